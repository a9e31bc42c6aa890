// Grants are validated strictly before anything is signed: a permissions object the callout does not
// understand is refused, never issued as a user JWT without the restriction its author meant.
import "reflect-metadata";

import { AuthCallout, type Authorizer, type Grant } from "@natsflow/auth-callout";
import { captureLogs, createCalloutHarness, type CalloutHarness } from "@natsflow/testing";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/** The grant the next request gets, whatever it is. */
let next: unknown;

@AuthCallout()
class GrantEcho implements Authorizer {
  authorize(): Grant {
    return next as Grant;
  }
}

let h: CalloutHarness;
const logs = captureLogs();

beforeAll(async () => {
  // Brute-force protection off: every request here is one user, and refusals must not turn into lockouts.
  h = await createCalloutHarness({ controllers: [GrantEcho], logger: logs.logger, callout: { bruteForce: false } });
});
afterAll(() => h?.stop());

async function issue(grant: unknown) {
  next = grant;
  return h.authorize({ user: "author", pass: "x" });
}

function lastDenial(): Record<string, unknown> {
  return logs.find(/denied/).at(-1) ?? {};
}

describe("the issue's three reproductions", () => {
  const cases: Array<[string, unknown, RegExp]> = [
    ["a misspelled key", { publish: { allow: ["orders.>"] } }, /permissions\.publish: unknown key; did you mean "pub"\?/],
    ["a string for pub", { pub: "orders.>" }, /permissions\.pub: must be \{ allow, deny \}, not a string/],
    ["an empty allow list", { pub: { allow: [] } }, /permissions\.pub\.allow: empty/],
  ];
  for (const [what, permissions, why] of cases) {
    it(`refuses ${what}, with a signed error and a decision saying why`, async () => {
      const answer = await issue({ account: "APP", permissions: { sub: { allow: ["_INBOX.>"] }, ...(permissions as object) } });
      expect(answer.userJwt).toBeUndefined();
      expect(answer.error).toMatch(why);
      expect(lastDenial()).toMatchObject({ decision: "deny", reasonKind: "invalid_grant", user: "author", reason: expect.stringMatching(why) });
    });
  }
});

// ---- the fuzz: random permission objects, each refused or issued exactly as written ----

const VALID_SUBJECTS = ["orders.>", "orders.*.created", "_INBOX.>", ">", "a", "$SYS.REQ.USER.INFO", "users.42.*"];
const subject = fc.oneof(fc.constantFrom(...VALID_SUBJECTS), fc.constantFrom("", "a..b", "a b", ">.a", "a.>.b", " orders", "orders.\r\n"), fc.string({ maxLength: 8 }));
const junk = fc.oneof(fc.constant(null), fc.constant(undefined), fc.boolean(), fc.integer(), fc.double(), fc.string({ maxLength: 6 }), fc.constant([]), fc.constant({}), fc.anything({ maxDepth: 2 }));
/** The real key, or what a careless author might write instead. */
const key = (real: string, typos: string[]) => fc.oneof({ weight: 6, arbitrary: fc.constant(real) }, { weight: 2, arbitrary: fc.constantFrom(...typos) }, { weight: 1, arbitrary: fc.string({ maxLength: 6 }) });
const list = fc.oneof({ weight: 6, arbitrary: fc.array(subject, { maxLength: 3 }) }, { weight: 1, arbitrary: subject }, { weight: 1, arbitrary: junk });
const direction = fc.oneof(
  { weight: 8, arbitrary: fc.dictionary(fc.oneof(key("allow", ["Allow", "allowed", "allows", "alow", "permit"]), key("deny", ["Deny", "denied", "block"])), list, { maxKeys: 3 }) },
  { weight: 1, arbitrary: fc.constantFrom("all", "orders.>", ">") },
  { weight: 1, arbitrary: junk },
);
const resp = fc.oneof(
  fc.dictionary(key("max", ["max_msgs", "maxMsgs", "Max"]), fc.oneof(fc.integer({ min: -3, max: 5 }), junk), { maxKeys: 2 }),
  fc.dictionary(key("ttl", ["expires", "TTL"]), fc.oneof(fc.integer({ min: -1, max: 10 ** 10 }), junk), { maxKeys: 2 }),
  junk,
);
const permissions = fc.oneof(
  { weight: 8, arbitrary: fc.dictionary(fc.oneof(key("pub", ["publish", "Pub", "pubs"]), key("sub", ["subscribe", "Sub", "subs"])), direction, { minKeys: 0, maxKeys: 3 }) },
  { weight: 2, arbitrary: fc.record({ pub: direction, sub: direction, resp }, { requiredKeys: ["pub", "sub"] }) },
  { weight: 1, arbitrary: fc.record({ pub: direction, sub: direction, response: resp }) },
  { weight: 1, arbitrary: fc.constantFrom("all", "ALL", "none", "") },
  { weight: 1, arbitrary: junk },
);
const limits = fc.oneof(
  fc.constant(undefined),
  fc.record({ subs: fc.oneof(fc.integer({ min: -2, max: 100 }), junk), payload: fc.integer({ min: -1, max: 4096 }) }, { requiredKeys: [] }),
  fc.dictionary(key("data", ["Data", "max_data", "bytes"]), fc.integer({ min: -1, max: 100 }), { maxKeys: 1 }),
);
/** A whole grant: the permissions, sometimes limits, sometimes a misspelled top-level key. */
const grant = fc.record(
  {
    permissions,
    limits,
    stray: fc.tuple(fc.constantFrom("permission", "Permissions", "limit", "expiresIn", "tag"), junk),
  },
  { requiredKeys: ["permissions"] },
).map(({ permissions: p, limits: l, stray }) => ({
  account: "APP",
  permissions: p,
  ...(l !== undefined ? { limits: l } : {}),
  ...(stray ? { [stray[0]]: stray[1] } : {}),
}));

const isPlainObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v) && [Object.prototype, null].includes(Object.getPrototypeOf(v) as object);
const onlyKeys = (v: Record<string, unknown>, keys: string[]) => Object.keys(v).every((k) => keys.includes(k));
/** Subject filters as nats-server reads them: non-empty tokens without whitespace, `>` only as the last token. */
const subjects = (v: unknown) => Array.isArray(v) && v.every((s) => typeof s === "string" && /^[^\s.]+(\.[^\s.]+)*$/.test(s) && !/(^|\.)>\./.test(s));

/** What an issued user JWT must say for `direction`, or why such a direction could never be issued. */
function expectedDirection(d: unknown): { allow?: unknown[]; deny?: unknown[] } | string {
  if (!isPlainObject(d) || !onlyKeys(d, ["allow", "deny"])) return "not { allow, deny }";
  for (const k of ["allow", "deny"] as const) if (d[k] !== undefined && !subjects(d[k])) return `${k} is not a list of subjects`;
  const allow = d.allow as unknown[] | undefined;
  const deny = d.deny as unknown[] | undefined;
  if (allow !== undefined && allow.length === 0) return "an empty allow list means allow-all to nats-server";
  if (!allow?.length && !deny?.length) return "restricts nothing";
  return { ...(allow !== undefined ? { allow } : {}), ...(deny !== undefined ? { deny } : {}) };
}

describe("grant fuzz through the whole pipeline", () => {
  it("never issues a user JWT without the restriction the author wrote: each grant is refused or issued exactly as written", async () => {
    let issued = 0;
    let refused = 0;
    await fc.assert(
      fc.asyncProperty(grant, async (g) => {
        const answer = await issue(g);
        if (answer.error !== undefined) {
          expect(answer.userJwt).toBeUndefined();
          refused++;
          return;
        }
        issued++;
        const nats = answer.user?.nats as Record<string, unknown>;
        expect(onlyKeys(g, ["account", "permissions", "limits"]), "a grant with an unknown top-level key was issued").toBe(true);
        const p = g.permissions;
        if (p === "all") {
          // The one spelling of "no restriction at all".
          expect(nats.pub ?? {}).toEqual({});
          expect(nats.sub ?? {}).toEqual({});
          expect(nats.resp).toBeUndefined();
        } else {
          expect(isPlainObject(p) && onlyKeys(p, ["pub", "sub", "resp"]), `issued permissions with unknown keys: ${JSON.stringify(p)}`).toBe(true);
          const perms = p as Record<string, unknown>;
          for (const dir of ["pub", "sub"] as const) {
            const want = expectedDirection(perms[dir]);
            expect(typeof want, `${dir} was issued although ${String(want)}: ${JSON.stringify(perms[dir])}`).toBe("object");
            expect(nats[dir]).toEqual(want);
          }
          if (perms.resp === undefined) expect(nats.resp).toBeUndefined();
          else {
            const r = perms.resp as Record<string, unknown>;
            expect(isPlainObject(r) && onlyKeys(r, ["max", "ttl"])).toBe(true);
            expect(nats.resp).toEqual({ max: r.max ?? 1, ttl: r.ttl ?? 0 });
          }
        }
        const l = (g as { limits?: Record<string, unknown> }).limits;
        if (l !== undefined) expect(isPlainObject(l) && onlyKeys(l, ["subs", "data", "payload"])).toBe(true);
        for (const k of ["subs", "data", "payload"] as const) expect(nats[k]).toBe(l?.[k] ?? -1);
      }),
      { numRuns: 1500 },
    );
    // Not vacuous: both outcomes occur, often.
    expect(issued).toBeGreaterThan(50);
    expect(refused).toBeGreaterThan(50);
  }, 120_000);
});
