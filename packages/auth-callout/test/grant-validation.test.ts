// Grants are validated strictly before anything is signed: a permissions object the callout does not
// understand is refused, never issued as a user JWT without the restriction its author meant.
import "reflect-metadata";

import { AuthCallout, InvalidGrantError, validateGrant, validatePermissions, type Authorizer, type Grant } from "@natsflow/auth-callout";
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

describe("validatePermissions and validateGrant", () => {
  const SUB = { allow: ["_INBOX.>"] };
  const refusal = (run: () => unknown) => {
    try {
      run();
    } catch (e) {
      expect(e).toBeInstanceOf(InvalidGrantError);
      return (e as Error).message;
    }
    return "accepted";
  };

  it('accepts "all" and { pub, sub, resp } with subjects that restrict', () => {
    expect(refusal(() => validatePermissions("all"))).toBe("accepted");
    expect(refusal(() => validatePermissions({ pub: { allow: [">"] }, sub: { deny: ["secret.>"] }, resp: { max: 1, ttl: 0 } }))).toBe("accepted");
    expect(refusal(() => validatePermissions({ pub: { allow: ["a"], deny: [] }, sub: SUB }))).toBe("accepted");
  });

  it("names the bad key, and the key the author probably meant", () => {
    const cases: Array<[unknown, string]> = [
      [undefined, 'permissions: missing; give { pub, sub }, or "all" for no restriction'],
      ["ALL", 'permissions: must be { pub, sub, resp } or "all", not a string'],
      [{ sub: SUB }, 'permissions.pub: missing; give { allow, deny } (allow: [">"] allows every subject)'],
      [{ Subscribe: SUB, pub: SUB }, 'permissions.Subscribe: unknown key; did you mean "sub"?'],
      [{ pub: { allowed: ["a"] }, sub: SUB }, 'permissions.pub.allowed: unknown key; did you mean "allow"?'],
      [{ pub: { denied: ["a"] }, sub: SUB }, 'permissions.pub.denied: unknown key; did you mean "deny"?'],
      [{ pub: SUB, sub: SUB, resp: { max_msgs: 1 } }, 'permissions.resp.max_msgs: unknown key; did you mean "max"?'],
      [{ pub: SUB, sub: SUB, zzz: 1 }, "permissions.zzz: unknown key (known: pub, sub, resp)"],
      [{ pub: SUB, sub: SUB, "a\u0000b": 1 }, 'permissions["a\\u0000b"]: unknown key (known: pub, sub, resp)'],
      [{ pub: { allow: ["a", 5] }, sub: SUB }, "permissions.pub.allow[1]: must be a subject, not a number"],
      [{ pub: { allow: ["a", "b..c"] }, sub: SUB }, 'permissions.pub.allow[1]: invalid subject "b..c"'],
      [{ pub: { allow: "a" }, sub: SUB }, "permissions.pub.allow: must be an array of subjects, not a string"],
      [{ pub: { deny: [] }, sub: SUB }, 'permissions.pub: restricts nothing; list allow or deny subjects (allow: [">"] allows every subject)'],
      [{ pub: {}, sub: SUB }, 'permissions.pub: restricts nothing; list allow or deny subjects (allow: [">"] allows every subject)'],
      [{ pub: new Map(), sub: SUB }, "permissions.pub: must be { allow, deny }, not a Map"],
      [{ pub: SUB, sub: SUB, resp: { max: -2 } }, "permissions.resp.max: must be an integer ≥ -1, not -2"],
      [{ pub: SUB, sub: SUB, resp: { ttl: 1.5 } }, "permissions.resp.ttl: must be nanoseconds ≥ 0, not 1.5"],
    ];
    for (const [permissions, message] of cases) expect(refusal(() => validatePermissions(permissions))).toBe(`invalid grant: ${message}`);
  });

  it("checks the whole grant: keys, limits, connection types, expiry, and what the signer needs", () => {
    const ok = { account: "APP", permissions: "all" } as const;
    const cases: Array<[unknown, string]> = [
      [{ account: "APP" }, 'permissions: missing; give { pub, sub }, or "all" for no restriction'],
      [{ ...ok, permission: "all" }, 'permission: unknown key; did you mean "permissions"?'],
      [{ ...ok, expiresIn: 60 }, 'expiresIn: unknown key; did you mean "expiresInSeconds"?'],
      [{ ...ok, limits: { src: [] } }, "limits.src: empty, which nats-server reads as no restriction; leave it out"],
      [{ ...ok, limits: { src: ["10.0.0.0/33"] } }, "limits.src[0]: must be a CIDR like 10.0.0.0/8"],
      [{ ...ok, limits: { src: ["10.0.0.1"] } }, "limits.src[0]: must be a CIDR like 10.0.0.0/8"],
      [{ ...ok, limits: { times: [{ start: "08:00:00", end: "17:00:00", tz: "UTC" }] } }, "limits.times[0].tz: unknown key (known: start, end)"],
      [{ ...ok, limits: { locale: "Mars/Olympus" } }, "limits.locale: must be a time zone like Europe/Berlin"],
      [{ ...ok, limits: { max_subs: 1 } }, 'limits.max_subs: unknown key; did you mean "subs"?'],
      [{ ...ok, allowedConnectionTypes: [] }, "allowedConnectionTypes: empty, which nats-server reads as no restriction; leave it out"],
      [{ ...ok, allowedConnectionTypes: ["websocket"] }, "allowedConnectionTypes[0]: must be one of STANDARD, WEBSOCKET, LEAFNODE, LEAFNODE_WS, MQTT, MQTT_WS, IN_PROCESS"],
      [{ ...ok, expiresInSeconds: Number.POSITIVE_INFINITY }, "expiresInSeconds: must be a number of seconds > 0"],
    ];
    for (const [grant, message] of cases) expect(refusal(() => validateGrant(grant))).toBe(`invalid grant: ${message}`);
    expect(refusal(() => validateGrant({ ...ok, limits: { src: ["10.0.0.0/8", "::1/128"], times: [{ start: "08:00:00", end: "17:00:00" }], locale: "Europe/Berlin" } }))).toBe("accepted");
    // A scoped key's template sets the permissions: the grant leaves them out, and must.
    expect(refusal(() => validateGrant({ account: "APP" }, Date.now(), { scoped: true }))).toBe("accepted");
    expect(refusal(() => validateGrant(ok, Date.now(), { scoped: true }))).toMatch(/^invalid grant: permissions: account "APP" signs with a scoped key/);
  });
});

// ---- the fuzz: random permission objects, each refused or issued exactly as written ----

const VALID_SUBJECTS = ["orders.>", "orders.*.created", "_INBOX.>", ">", "a", "$SYS.REQ.USER.INFO", "users.42.*"];
const subject = fc.oneof(
  { weight: 24, arbitrary: fc.constantFrom(...VALID_SUBJECTS) },
  { weight: 1, arbitrary: fc.constantFrom("", "a..b", "a b", ">.a", "a.>.b", " orders", "orders.\r\n") },
  { weight: 1, arbitrary: fc.string({ maxLength: 8 }) },
);
const junk = fc.oneof(fc.constant(null), fc.constant(undefined), fc.boolean(), fc.integer(), fc.double(), fc.string({ maxLength: 6 }), fc.constant([]), fc.constant({}), fc.anything({ maxDepth: 2 }));
const list = fc.oneof(
  { weight: 16, arbitrary: fc.array(subject, { minLength: 1, maxLength: 3 }) },
  { weight: 1, arbitrary: fc.constant([]) },
  { weight: 1, arbitrary: subject },
  { weight: 1, arbitrary: junk },
);
/** Sometimes (1 in `odds`) one more key: what a careless author might write instead of a real one. */
const withStray = <T extends object>(arb: fc.Arbitrary<T>, typos: string[], odds = 6) =>
  fc
    .tuple(arb, fc.oneof({ weight: odds - 1, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.tuple(fc.oneof(fc.constantFrom(...typos), fc.string({ maxLength: 6 })), fc.oneof(list, junk)) }))
    .map(([o, stray]) => (stray ? { ...o, [stray[0]]: stray[1] } : o));
const DIRECTION_TYPOS = ["Allow", "allowed", "allows", "alow", "permit", "Deny", "denied", "block"];
const direction = fc.oneof(
  { weight: 24, arbitrary: withStray(fc.record({ allow: list, deny: list }, { requiredKeys: ["allow"] }), DIRECTION_TYPOS, 10) },
  { weight: 6, arbitrary: withStray(fc.record({ allow: list, deny: list }, { requiredKeys: [] }), DIRECTION_TYPOS) },
  { weight: 1, arbitrary: fc.constantFrom("all", "orders.>", ">") },
  { weight: 1, arbitrary: junk },
);
const resp = fc.oneof(
  { weight: 6, arbitrary: withStray(fc.record({ max: fc.integer({ min: -1, max: 5 }), ttl: fc.integer({ min: 0, max: 10 ** 10 }) }, { requiredKeys: [] }), ["max_msgs", "maxMsgs", "expires", "TTL"]) },
  { weight: 1, arbitrary: fc.record({ max: fc.oneof(fc.integer({ min: -3, max: 5 }), junk), ttl: fc.oneof(fc.integer({ min: -2, max: 5 }), junk) }, { requiredKeys: [] }) },
  { weight: 1, arbitrary: junk },
);
const PERMISSION_TYPOS = ["publish", "subscribe", "Pub", "subs", "response", "allow_responses"];
const permissions = fc.oneof(
  { weight: 20, arbitrary: withStray(fc.record({ pub: direction, sub: direction, resp }, { requiredKeys: ["pub", "sub"] }), PERMISSION_TYPOS, 10) },
  { weight: 2, arbitrary: withStray(fc.record({ pub: direction, sub: direction, resp }, { requiredKeys: [] }), PERMISSION_TYPOS, 2) },
  { weight: 2, arbitrary: fc.constantFrom("all", "ALL", "none", "") },
  { weight: 1, arbitrary: junk },
);
const limits = fc.oneof(
  { weight: 4, arbitrary: fc.constant(undefined) },
  { weight: 2, arbitrary: withStray(fc.record({ subs: fc.integer({ min: -1, max: 100 }), data: fc.integer({ min: -1, max: 10 ** 6 }), payload: fc.integer({ min: -1, max: 4096 }) }, { requiredKeys: [] }), ["Subs", "max_data", "bytes"]) },
  { weight: 1, arbitrary: fc.record({ subs: fc.oneof(fc.integer({ min: -3, max: 5 }), junk) }) },
);
/** A whole grant: the permissions, sometimes limits, sometimes a misspelled top-level key. */
const grant = withStray(
  fc.record({ account: fc.constant("APP"), permissions, limits }, { requiredKeys: ["account", "permissions"] }).map(({ limits: l, ...g }) => (l === undefined ? g : { ...g, limits: l })),
  ["permission", "Permissions", "limit", "expiresIn", "tag"],
  8,
);

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
            expect(r.max === undefined || (Number.isSafeInteger(r.max) && (r.max as number) >= -1)).toBe(true);
            expect(r.ttl === undefined || (Number.isSafeInteger(r.ttl) && (r.ttl as number) >= 0)).toBe(true);
            // `+ 0`: JSON has no -0, so a -0 the author wrote is issued as 0.
            expect(nats.resp).toEqual({ max: ((r.max as number | undefined) ?? 1) + 0, ttl: ((r.ttl as number | undefined) ?? 0) + 0 });
          }
        }
        const l = (g as { limits?: Record<string, unknown> }).limits;
        if (l !== undefined) expect(isPlainObject(l) && onlyKeys(l, ["subs", "data", "payload"])).toBe(true);
        for (const k of ["subs", "data", "payload"] as const) {
          expect(l?.[k] === undefined || (Number.isSafeInteger(l[k]) && (l[k] as number) >= -1), `limits.${k} = ${String(l?.[k])} was issued`).toBe(true);
          expect(nats[k]).toBe(((l?.[k] as number | undefined) ?? -1) + 0);
        }
      }),
      { numRuns: 2000 },
    );
    // Not vacuous: both outcomes occur, often.
    expect(issued).toBeGreaterThan(200);
    expect(refused).toBeGreaterThan(200);
  }, 120_000);
});
