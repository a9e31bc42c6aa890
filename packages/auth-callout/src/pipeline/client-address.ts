import { isIPv4, isIPv6 } from "node:net";

/** The eight 16-bit groups of a valid IPv6 address (zone already removed). */
function groups(address: string): number[] {
  let text = address;
  const tail: number[] = [];
  // A dotted IPv4 tail (`::ffff:10.0.0.1`) is the last two groups.
  const dot = text.lastIndexOf(":");
  if (text.includes(".", dot)) {
    const [a, b, c, d] = text.slice(dot + 1).split(".").map(Number) as [number, number, number, number];
    tail.push((a << 8) | b, (c << 8) | d);
    text = text.slice(0, dot + 1) + "0";
  }
  const [head, rest] = text.split("::") as [string, string | undefined];
  const parse = (part: string | undefined) => (part ? part.split(":").map((g) => parseInt(g, 16)) : []);
  const left = parse(head);
  const right = parse(rest);
  if (tail.length > 0) (right.length > 0 ? right : left).splice(-1, 1, ...tail);
  const zeros = rest === undefined ? [] : Array<number>(8 - left.length - right.length).fill(0);
  return [...left, ...zeros, ...right];
}

/**
 * What a client's address is counted as: an IPv4 address as it is (also when IPv4-mapped,
 * `::ffff:a.b.c.d`), an IPv6 address as its network of `ipv6Prefix` bits (`2001:db8:0:1::/64`) —
 * one subscriber usually has a whole /64 to pick from. Anything else is counted as given.
 */
export function addressKey(host: string, ipv6Prefix: number): string {
  if (isIPv4(host)) return host;
  const address = host.replace(/%.*$/, "");
  if (!isIPv6(address)) return host;
  const g = groups(address.toLowerCase());
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) {
    return [g[6]! >> 8, g[6]! & 0xff, g[7]! >> 8, g[7]! & 0xff].join(".");
  }
  const masked = g.map((x, i) => {
    const bits = Math.min(16, Math.max(0, ipv6Prefix - i * 16));
    return bits === 16 ? x : x & ((0xffff << (16 - bits)) & 0xffff);
  });
  return `${masked.map((x) => x.toString(16)).join(":")}/${ipv6Prefix}`;
}
