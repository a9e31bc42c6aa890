import "reflect-metadata";

import {
  AuthCallout,
  AuthCalloutConfig,
  AuthError,
  isLocked,
  KvFailureStore,
  MemoryFailureStore,
  retryAt,
  withFailure,
  type Authorizer,
  type AuthRequest,
  type FailureBudget,
  type FailureRecord,
  type Grant,
} from "@natsflow/auth-callout";
import { Broker, SetupError, type KvBucket, type Transport } from "@natsflow/core";
import { captureLogs, createCalloutHarness, newAccountKey, registerSecret, TestBroker, type CalloutHarness } from "@natsflow/testing";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";

const timing = { windowMs: 60_000, lockoutMs: 30_000, delayBaseMs: 1000 };
const budget: FailureBudget = { failures: 8, delayAfter: 3 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function fails(times: number[], b = budget): FailureRecord | undefined {
  return times.reduce<FailureRecord | undefined>((r, t) => withFailure(r, b, timing, t), undefined);
}

describe("failure policy", () => {
  it("lets a key try freely below delayAfter", () => {
    expect(retryAt(fails([0, 10]), budget, timing, 20)).toBe(0);
  });

  it("delays from delayAfter on, doubling with each further failure", () => {
    expect(retryAt(fails([0, 10, 20]), budget, timing, 21)).toBe(20 + 1000);
    expect(retryAt(fails([0, 10, 20, 5000]), budget, timing, 5001)).toBe(5000 + 2000);
    expect(retryAt(fails([0, 10, 20, 5000, 9000]), budget, timing, 9001)).toBe(9000 + 4000);
    // The delay over, the key may try again.
    expect(retryAt(fails([0, 10, 20, 5000, 9000]), budget, timing, 13_000)).toBe(0);
  });

  it("never delays longer than a lockout", () => {
    const b = { failures: 50, delayAfter: 1 };
    const record = fails(Array.from({ length: 40 }, (_, i) => i), b);
    expect(retryAt(record, b, timing, 40)).toBe(39 + timing.lockoutMs);
  });

  it("locks the key out when the budget is spent, until the lockout ends, and starts clean after", () => {
    const record = fails([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(record).toEqual({ failures: [], lockedUntil: 8 + timing.lockoutMs });
    expect(isLocked(record, 8 + timing.lockoutMs - 1)).toBe(true);
    expect(retryAt(record, budget, timing, 100)).toBe(8 + timing.lockoutMs);
    expect(isLocked(record, 8 + timing.lockoutMs)).toBe(false);
    expect(retryAt(record, budget, timing, 8 + timing.lockoutMs)).toBe(0);
  });

  it("counts over a sliding window: old failures drop out", () => {
    const old = fails([0, 1, 2, 3, 4, 5, 6]);
    expect(old?.failures).toHaveLength(7);
    // One more would lock, but the first seven are outside the window by now.
    const later = withFailure(old, budget, timing, 60_010);
    expect(later).toEqual({ failures: [60_010], lockedUntil: 0 });
    expect(retryAt(old, budget, timing, 60_010)).toBe(0);
  });
});

describe("memory failure store", () => {
  it("sweeps spent records and bounds the number of keys", () => {
    let now = 0;
    const store = new MemoryFailureStore(timing, () => now, 100);
    for (let i = 0; i < 50; i++) store.change(`u.${i}`, (r) => withFailure(r, budget, timing, now));
    expect(store.size).toBe(50);
    now = 120_000;
    store.change("u.fresh", (r) => withFailure(r, budget, timing, now));
    expect(store.size).toBe(1);
    for (let i = 0; i < 500; i++) store.change(`a.${i}`, (r) => withFailure(r, budget, timing, now));
    expect(store.size).toBeLessThanOrEqual(100);
    expect(store.get("a.499")).toBeDefined();
  });
});

describe("KV failure store", () => {
  const broker = new TestBroker();
  const logs = captureLogs();
  const transports: Transport[] = [];
  const store = (clock: () => number = Date.now) => {
    const t = broker.connect();
    transports.push(t);
    return new KvFailureStore({ bucket: "failures_test", timing, broker: new Broker(() => t), logger: logs.logger, clock });
  };
  const fail = (now: number) => (r: FailureRecord | undefined) => withFailure(r, budget, timing, now);
  afterAll(async () => {
    for (const t of transports) await t.close();
  });

  it("shares failures between instances, and concurrent writes to one key are all counted", async () => {
    const a = store();
    const b = store();
    a.get("u.x");
    b.get("u.x");
    await sleep(10);
    // Both change the same key at once: one compare-and-set loses and is re-applied on the winner's record.
    for (let i = 0; i < 3; i++) {
      a.change("u.x", fail(Date.now()));
      b.change("u.x", fail(Date.now()));
    }
    await sleep(50);
    expect(a.get("u.x")?.failures).toHaveLength(6);
    expect(b.get("u.x")?.failures).toHaveLength(6);
    const bucket = await broker.connect().kv("failures_test");
    const stored = JSON.parse(new TextDecoder().decode((await bucket.get("u.x"))!.value)) as { f: number[] };
    expect(stored.f).toHaveLength(6);
  });

  it("a lockout written by one instance is enforced by another, announced once, and a reset clears it for both", async () => {
    const a = store();
    const b = store();
    a.get("u.y");
    b.get("u.y");
    await sleep(10);
    const now = Date.now();
    let announced = 0;
    // Spread over both: neither sees the other's latest failure when it writes its own.
    for (let i = 0; i < budget.failures; i++) (i % 2 ? a : b).change("u.y", fail(now + i), () => announced++);
    await sleep(50);
    expect(isLocked(a.get("u.y"), now + 100)).toBe(true);
    expect(isLocked(b.get("u.y"), now + 100)).toBe(true);
    expect(announced).toBe(1);
    b.change("u.y", () => undefined);
    await sleep(50);
    expect(a.get("u.y")).toBeUndefined();
  });

  it("keeps enforcing its own counts when the bucket is unavailable, and says so once", async () => {
    const t = broker.connect();
    transports.push(t);
    const broken = { ...t, kv: async (): Promise<KvBucket> => { throw new Error("jetstream not enabled"); } } as Transport;
    const s = new KvFailureStore({ bucket: "nowhere", timing, broker: new Broker(() => broken), logger: logs.logger });
    const now = Date.now();
    let announced = 0;
    for (let i = 0; i < budget.failures; i++) s.change("u.z", fail(now + i), () => announced++);
    await sleep(10);
    expect(isLocked(s.get("u.z"), now + 100)).toBe(true);
    expect(announced).toBe(1);
    // The outage known, a later lockout is announced at once, and the warning is not repeated.
    for (let i = 0; i < budget.failures; i++) s.change("u.w", fail(now + i), () => announced++);
    expect(announced).toBe(2);
    await sleep(10);
    expect(logs.find(/cannot be shared/)).toHaveLength(1);
  });
});

describe("bruteForce settings", () => {
  const issuerSeed = newAccountKey().seed;
  const setting = (bruteForce: unknown) => {
    try {
      AuthCalloutConfig.from({ issuerSeed, bruteForce: bruteForce as never });
    } catch (e) {
      expect(e).toBeInstanceOf(SetupError);
      return (e as SetupError).setting;
    }
    return "accepted";
  };

  it("is on by default with documented defaults, and false turns it off", () => {
    const on = AuthCalloutConfig.from({ issuerSeed }).bruteForce;
    expect(on).toMatchObject({ windowMs: 900_000, lockoutMs: 900_000, delayBaseMs: 1000, perUser: { failures: 20, delayAfter: 5 }, perAddress: { failures: 100, delayAfter: 50 }, store: "memory" });
    expect(AuthCalloutConfig.from({ issuerSeed, bruteForce: false }).bruteForce).toBeUndefined();
  });

  it("names the bad setting", () => {
    expect(setting({ windowMs: 0 })).toBe("bruteForce.windowMs");
    expect(setting({ lockoutMs: "1m" })).toBe("bruteForce.lockoutMs");
    expect(setting({ perUser: { failures: 2.5 } })).toBe("bruteForce.perUser.failures");
    expect(setting({ perUser: { failures: 3, delayAfter: 4 } })).toBe("bruteForce.perUser.delayAfter");
    expect(setting({ perUser: false, perAddress: false })).toBe("bruteForce");
    expect(setting({ store: "redis" })).toBe("bruteForce.store");
    expect(setting({ store: "kv", bucket: "a.b" })).toBe("bruteForce.bucket");
    expect(setting({ bucket: "x" })).toBe("bruteForce.bucket");
    expect(setting("yes")).toBe("bruteForce");
    expect(setting({ store: "kv", perUser: { failures: 3 } })).toBe("accepted");
  });
});

const PASSWORDS: Record<string, string> = { alice: "alice-right-pw", bob: "bob-right-pw" };
for (const p of Object.values(PASSWORDS)) registerSecret(p);
let authorizerCalls = 0;

@AuthCallout()
class PasswordAuthorizer implements Authorizer {
  async authorize(req: AuthRequest): Promise<Grant> {
    authorizerCalls++;
    if (req.username === "slow") return new Promise(() => undefined);
    if (req.token !== undefined) {
      if (req.token === "good-token") return { account: "APP" };
      throw new AuthError("bad token");
    }
    if (req.nkey !== undefined) throw new AuthError("unknown nkey");
    if (PASSWORDS[req.username ?? ""] !== req.password) throw new AuthError("invalid credentials");
    return { account: "APP" };
  }
}

describe("brute-force guard in the pipeline", () => {
  let h: CalloutHarness;
  const logs = captureLogs();
  const audit: Array<Record<string, unknown>> = [];
  const lockoutMs = 400;

  beforeAll(async () => {
    h = await createCalloutHarness({
      controllers: [PasswordAuthorizer],
      logger: logs.logger,
      callout: { timeoutMs: 200, auditSubject: "auth.audit", bruteForce: { lockoutMs, delayBaseMs: 30_000 } },
    });
    h.broker.connect().subscribe("auth.audit", {}, (m) => audit.push(JSON.parse(new TextDecoder().decode(m.data)) as Record<string, unknown>));
  });
  afterAll(() => h.stop());
  afterEach(async () => {
    // Each test starts clean: the lockouts it caused are over.
    await sleep(lockoutMs + 20);
  });

  const metrics = () => h.app.metrics.registry.metrics();
  const from = (host: string) => ({ clientInfo: { host } });

  it("20 wrong passwords lock the user out; the right one is refused, without the authorizer, until the lockout ends", async () => {
    const calls = authorizerCalls;
    const reasons: Array<string | undefined> = [];
    for (let i = 0; i < 20; i++) reasons.push((await h.authorize({ user: "alice", pass: `guess-${i}`, ...from("10.0.0.1") })).error);
    // Five real denials, then the delay refuses at once (and counts) until the budget is spent.
    expect(reasons.slice(0, 5)).toEqual(Array(5).fill("invalid credentials"));
    expect(reasons.slice(5)).toEqual(Array(15).fill("too many failed logins, retry later"));
    expect(authorizerCalls - calls).toBe(5);

    const right = await h.authorize({ user: "alice", pass: PASSWORDS.alice, ...from("10.0.0.1") });
    expect(right.error).toBe("too many failed logins, retry later");
    expect(right.userJwt).toBeUndefined();
    // From another address too: the user is locked, not the address.
    expect((await h.authorize({ user: "alice", pass: PASSWORDS.alice, ...from("10.9.9.9") })).error).toBe("too many failed logins, retry later");
    expect(authorizerCalls - calls).toBe(5);

    // Another user from the same address is unaffected.
    expect((await h.authorize({ user: "bob", pass: PASSWORDS.bob, ...from("10.0.0.1") })).userJwt).toBeDefined();

    await sleep(lockoutMs + 20);
    expect((await h.authorize({ user: "alice", pass: PASSWORDS.alice, ...from("10.0.0.1") })).userJwt).toBeDefined();

    const text = await metrics();
    expect(text).toMatch(/natsflow_auth_lockouts_total\{key="user"\} 1/);
    expect(text).toMatch(/natsflow_auth_decisions_total\{decision="deny",reason="locked"\} 17/);
    const lockout = logs.find(/locked out/).at(-1);
    expect(lockout).toMatchObject({ event: "lockout", key: "user", user: "alice", client: { host: "10.0.0.1" } });
    expect(audit.find((e) => e.event === "lockout")).toMatchObject({ key: "user", user: "alice", until: expect.any(String) });
    expect(logs.find(/denied/).at(-1)).toMatchObject({ reasonKind: "locked", reason: "too many failed logins, retry later" });
    expect(JSON.stringify(audit)).not.toContain(PASSWORDS.alice);
  });

  it("a success clears the user's count", async () => {
    for (let i = 0; i < 4; i++) await h.authorize({ user: "bob", pass: "nope", ...from("10.0.0.2") });
    expect((await h.authorize({ user: "bob", pass: PASSWORDS.bob, ...from("10.0.0.2") })).userJwt).toBeDefined();
    // Four more wrong ones are still real denials, not a delay: the count started over.
    for (let i = 0; i < 4; i++) expect((await h.authorize({ user: "bob", pass: "nope", ...from("10.0.0.2") })).error).toBe("invalid credentials");
  });

  it("counts a spray of users from one address against the address", async () => {
    const reasons: Array<string | undefined> = [];
    for (let i = 0; i < 52; i++) reasons.push((await h.authorize({ user: `user-${i}`, pass: "x", ...from("10.0.0.3") })).error);
    expect(reasons.slice(0, 50)).toEqual(Array(50).fill("invalid credentials"));
    expect(reasons.slice(50)).toEqual(Array(2).fill("too many failed logins, retry later"));
    // Even a right password from that address waits out the delay; from elsewhere it is fine.
    expect((await h.authorize({ user: "bob", pass: PASSWORDS.bob, ...from("10.0.0.3") })).error).toBe("too many failed logins, retry later");
    expect((await h.authorize({ user: "bob", pass: PASSWORDS.bob, ...from("10.0.0.4") })).userJwt).toBeDefined();
  });

  it("counts token logins by address, never by token", async () => {
    for (let i = 0; i < 50; i++) await h.authorize({ token: `forged-${i}`, ...from("10.0.0.5") });
    expect((await h.authorize({ token: "good-token", ...from("10.0.0.5") })).error).toBe("too many failed logins, retry later");
    expect((await h.authorize({ token: "good-token", ...from("10.0.0.6") })).userJwt).toBeDefined();
    expect(logs.lines.join("\n")).not.toContain("forged-1");
  });

  it("does not count nkey logins, or timeouts", async () => {
    const calls = authorizerCalls;
    for (let i = 0; i < 8; i++) expect((await h.authorize({ nkey: "UABC", ...from("10.0.0.7") })).error).toBe("unknown nkey");
    for (let i = 0; i < 6; i++) expect((await h.authorize({ user: "slow", pass: "x", ...from("10.0.0.7") })).error).toBe("authorization timed out");
    expect(authorizerCalls - calls).toBe(14);
  });
});

// An authorizer that looks names up as many stores do (email, citext, `lower()`): `ALICE` is `alice`.
const NORMALIZED: Record<string, string> = { alice: "alice-normal-pw" };
registerSecret(NORMALIZED.alice!);

@AuthCallout()
class NormalizingAuthorizer implements Authorizer {
  authorize(req: AuthRequest): Grant {
    if (req.token !== undefined) {
      if (req.token === "good-token") return { account: "APP" };
      throw new AuthError("bad token");
    }
    const name = (req.username ?? "").normalize("NFKC").trim().toLowerCase();
    if (NORMALIZED[name] !== req.password) throw new AuthError("invalid credentials");
    return { account: "APP" };
  }
}

describe("budgets are not per spelling, nor per IPv6 /128 (issue 17 reproductions)", () => {
  let h: CalloutHarness;
  const LOCKED_REASON = "too many failed logins, retry later";

  beforeAll(async () => {
    h = await createCalloutHarness({
      controllers: [NormalizingAuthorizer],
      logger: captureLogs().logger,
      callout: { timeoutMs: 200, bruteForce: { lockoutMs: 60_000, delayBaseMs: 60_000, perUser: { failures: 3, delayAfter: 3 } } },
    });
  });
  afterAll(() => h.stop());

  it("after alice is locked, ALICE, Alice and ' alice' are refused too, even with the right password", async () => {
    for (let i = 0; i < 3; i++) expect((await h.authorize({ user: "alice", pass: `guess-${i}`, clientInfo: { host: "10.1.0.1" } })).error).toBe("invalid credentials");
    expect((await h.authorize({ user: "alice", pass: NORMALIZED.alice, clientInfo: { host: "10.1.0.2" } })).error).toBe(LOCKED_REASON);
    for (const spelling of ["ALICE", "Alice", " alice", "alice ", "ａｌｉｃｅ"]) {
      const answer = await h.authorize({ user: spelling, pass: NORMALIZED.alice, clientInfo: { host: "10.1.0.3" } });
      expect({ spelling, error: answer.error, jwt: answer.userJwt }).toEqual({ spelling, error: LOCKED_REASON, jwt: undefined });
    }
  });

  it("counts IPv6 clients per /64: 100 failures spread over one /64 lock the whole prefix", async () => {
    for (let i = 1; i <= 100; i++) await h.authorize({ token: `forged-${i}`, clientInfo: { host: `2001:db8:1:2::${i.toString(16)}` } });
    expect((await h.authorize({ token: "good-token", clientInfo: { host: "2001:db8:1:2:ffff:ffff:ffff:ffff" } })).error).toBe(LOCKED_REASON);
    // The next /64 has its own budget.
    expect((await h.authorize({ token: "good-token", clientInfo: { host: "2001:db8:1:3::1" } })).userJwt).toBeDefined();
  });

  it("counts an IPv4-mapped IPv6 client as its IPv4 address", async () => {
    for (let i = 0; i < 100; i++) await h.authorize({ token: `forged-${i}`, clientInfo: { host: "::ffff:10.2.0.1" } });
    expect((await h.authorize({ token: "good-token", clientInfo: { host: "10.2.0.1" } })).error).toBe(LOCKED_REASON);
  });
});

describe("locks cannot be flushed from the memory store (issue 17 reproduction)", () => {
  it("a locked victim stays locked after one failure each for 100 001 other keys", () => {
    const now = 1_000_000;
    const store = new MemoryFailureStore(timing, () => now);
    for (let i = 0; i < budget.failures; i++) store.change("u:victim", (r) => withFailure(r, budget, timing, now));
    expect(isLocked(store.get("u:victim"), now)).toBe(true);
    for (let i = 0; i < 100_001; i++) store.change(`u:other-${i}`, (r) => withFailure(r, budget, timing, now));
    expect(isLocked(store.get("u:victim"), now)).toBe(true);
    expect(store.get("u:victim")?.lockedUntil).toBe(now + timing.lockoutMs);
  });
});
