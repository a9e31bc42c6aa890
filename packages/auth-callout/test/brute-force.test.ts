import "reflect-metadata";

import {
  addressKey,
  AuthCallout,
  AuthCalloutConfig,
  AuthError,
  BruteForceGuard,
  canonicalUsername,
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
  type KvFailureStoreOptions,
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

describe("memory failure store when full", () => {
  it("evicts spent records first, once a second at most", () => {
    let now = 0;
    const store = new MemoryFailureStore(timing, () => now, 10);
    for (let i = 0; i < 10; i++) store.change(`u:${i}`, (r) => withFailure(r, budget, timing, now));
    now = timing.windowMs + 1;
    // The ten are spent: a new key finds room.
    store.change("u:new", (r) => withFailure(r, budget, timing, now));
    expect(store.size).toBe(1);
    expect(store.get("u:new")?.failures).toEqual([now]);
  });

  it("never forgets a lock or a failure inside its window; keys without room share an overflow budget", () => {
    const now = 1_000_000;
    const store = new MemoryFailureStore(timing, () => now, 10);
    for (let i = 0; i < 10; i++) store.change(`u:${i}`, (r) => withFailure(r, budget, timing, now));
    expect(store.size).toBe(10);
    // No room: the newcomer's failures go to its overflow slot, which every key hashing there shares.
    for (let i = 0; i < budget.failures; i++) store.change("u:newcomer", (r) => withFailure(r, budget, timing, now));
    expect(store.size).toBe(10);
    expect(isLocked(store.get("u:newcomer"), now)).toBe(true);
    for (let i = 0; i < 10; i++) expect(store.get(`u:${i}`)?.failures).toEqual([now]);
    // A success does not clear a slot: it speaks for other keys too.
    store.change("u:newcomer", () => undefined);
    expect(isLocked(store.get("u:newcomer"), now)).toBe(true);
    // A spent slot goes with the next sweep.
    let later = now + timing.lockoutMs + timing.windowMs;
    const swept = new MemoryFailureStore(timing, () => later, 1);
    swept.change("u:a", (r) => withFailure(r, budget, timing, later));
    for (let i = 0; i < budget.failures; i++) swept.change("u:b", (r) => withFailure(r, budget, timing, later));
    expect(isLocked(swept.get("u:b"), later)).toBe(true);
    later += timing.lockoutMs + timing.windowMs;
    expect(swept.get("u:b")).toBeUndefined();
    swept.change("u:c", (r) => withFailure(r, budget, timing, later));
    expect(swept.get("u:c")?.failures).toEqual([later]);
  });
});

describe("KV failure store", () => {
  const broker = new TestBroker();
  const logs = captureLogs();
  const transports: Transport[] = [];
  const store = (options: Partial<KvFailureStoreOptions> = {}) => {
    const t = broker.connect();
    transports.push(t);
    return new KvFailureStore({ bucket: "failures_test", timing, broker: new Broker(() => t), logger: logs.logger, ...options });
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

  it("makes its bucket with the replicas it is given", async () => {
    const s = store({ bucket: "failures_r3", replicas: 3 });
    s.change("u.x", fail(Date.now()));
    await expect.poll(async () => (await broker.connect().jetstream().streamInfo("KV_failures_r3"))?.replicas, { timeout: 2000 }).toBe(3);
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

  it("clamps records from the future to when they were written, and ignores malformed ones, with one warning", async () => {
    const own = captureLogs();
    const s = store({ bucket: "failures_forged", logger: own.logger });
    s.get("u.any");
    await sleep(10);
    const bucket = await broker.connect().kv("failures_forged");
    const put = (key: string, value: unknown) => bucket.put(key, new TextEncoder().encode(typeof value === "string" ? value : JSON.stringify(value)));
    const before = Date.now();
    await put("u.future", { f: [before + 3_600_000, before - 10], u: before + 10 * 365 * 86_400_000 });
    for (const [i, bad] of ["not json", { f: "x", u: 0 }, { f: [1], u: -5 }, { f: [null], u: 0 }, null, { f: [1] }].entries()) await put(`u.bad${i}`, bad);
    await sleep(20);
    const after = Date.now();
    const forged = s.get("u.future")!;
    expect(forged.failures).toHaveLength(2);
    expect(Math.max(...forged.failures)).toBeLessThanOrEqual(after);
    expect(forged.lockedUntil).toBeLessThanOrEqual(after + timing.lockoutMs);
    expect(isLocked(forged, after)).toBe(true);
    for (let i = 0; i < 6; i++) expect(s.get(`u.bad${i}`)).toBeUndefined();
    // Seven records not written by an instance, one warning (at most one a minute) naming the bucket, never a name.
    expect(own.find(/not written by an instance/)).toEqual([expect.objectContaining({ bucket: "failures_forged", key: "u.future", problem: "from the future", records: 1 })]);
  });

  it("keeps a lock when its mirror is full, and still counts keys it has no room for exactly in the bucket", async () => {
    const a = store({ bucket: "failures_full", maxKeys: 20 });
    const b = store({ bucket: "failures_full", maxKeys: 20 });
    a.get("u.victim");
    b.get("u.victim");
    await sleep(10);
    const now = Date.now();
    for (let i = 0; i < budget.failures; i++) a.change("u.victim", fail(now));
    await sleep(20);
    expect(isLocked(b.get("u.victim"), now + 1)).toBe(true);
    for (let i = 0; i < 200; i++) (i % 2 ? a : b).change(`u.spray${i}`, fail(now));
    await sleep(100);
    expect(isLocked(a.get("u.victim"), now + 1)).toBe(true);
    expect(isLocked(b.get("u.victim"), now + 1)).toBe(true);
    // Keys past the mirror's room are fetched before they are written: three failures from two instances, three in the bucket.
    a.change("u.spray199", fail(now));
    await sleep(20);
    b.change("u.spray199", fail(now));
    await sleep(20);
    const bucket = await broker.connect().kv("failures_full");

    expect((JSON.parse(new TextDecoder().decode((await bucket.get("u.spray199"))!.value)) as { f: number[] }).f).toHaveLength(3);
  });

  it("writes a change again by itself when its write failed (a bucket electing a leader), without waiting for the key's next change", async () => {
    const t = broker.connect();
    transports.push(t);
    let failures = 1;
    const electing = (b: KvBucket) =>
      new Proxy(b, {
        get: (target, prop) => {
          if (prop === "create") return (key: string, value: Uint8Array) => (failures-- > 0 ? Promise.reject(new Error("503")) : target.create(key, value));
          const v = Reflect.get(target, prop) as unknown;
          return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
        },
      });
    const flaky = { ...t, kv: async (...args: Parameters<Transport["kv"]>) => electing(await t.kv(...args)) } as Transport;
    const s = new KvFailureStore({ bucket: "failures_retry", timing, broker: new Broker(() => flaky), logger: captureLogs().logger });
    s.get("u.r");
    await sleep(20);
    s.change("u.r", fail(Date.now()));
    const bucket = await t.kv("failures_retry");
    await sleep(20);
    expect(failures).toBe(0);
    expect(await bucket.get("u.r")).toBeUndefined();
    await expect.poll(async () => (await bucket.get("u.r")) !== undefined, { timeout: 10_000, interval: 100 }).toBe(true);
  }, 15_000);

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
    expect(setting({ store: "kv", replicas: 0 })).toBe("bruteForce.replicas");
    expect(setting({ store: "kv", replicas: 6 })).toBe("bruteForce.replicas");
    expect(setting({ store: "kv", replicas: 2.5 })).toBe("bruteForce.replicas");
    expect(setting({ replicas: 3 })).toBe("bruteForce.replicas");
    expect(setting({ store: "kv", replicas: 3 })).toBe("accepted");
    expect(setting("yes")).toBe("bruteForce");
    expect(setting({ store: "kv", perUser: { failures: 3 } })).toBe("accepted");
    expect(setting({ ipv6Prefix: 0 })).toBe("bruteForce.ipv6Prefix");
    expect(setting({ ipv6Prefix: 129 })).toBe("bruteForce.ipv6Prefix");
    expect(setting({ ipv6Prefix: 56.5 })).toBe("bruteForce.ipv6Prefix");
    expect(setting({ ipv6Prefix: "64" })).toBe("bruteForce.ipv6Prefix");
    expect(setting({ ipv6Prefix: 48 })).toBe("accepted");
    expect(setting({ canonicalUser: "lower" })).toBe("bruteForce.canonicalUser");
    expect(setting({ canonicalUser: () => 42 })).toBe("bruteForce.canonicalUser");
    expect(setting({ canonicalUser: () => { throw new Error("no"); } })).toBe("bruteForce.canonicalUser");
    expect(setting({ canonicalUser: (u: string) => u.toLowerCase() })).toBe("accepted");
    expect(setting({ mode: "soft" })).toBe("bruteForce.mode");
    expect(setting({ mode: "delay-only", lockoutMs: 1000 })).toBe("bruteForce.lockoutMs");
    expect(setting({ mode: "delay-only", perUser: { failures: 10 } })).toBe("bruteForce.perUser.failures");
    expect(setting({ maxDelayMs: 0 })).toBe("bruteForce.maxDelayMs");
    expect(setting({ lockoutMs: 1000, maxDelayMs: 2000 })).toBe("bruteForce.maxDelayMs");
    expect(setting({ mode: "delay-only", maxDelayMs: 60_000, perUser: { delayAfter: 3 } })).toBe("accepted");
  });

  it("defaults: IPv6 per /64, canonical names, lockout mode", () => {
    const on = AuthCalloutConfig.from({ issuerSeed }).bruteForce!;
    expect(on).toMatchObject({ mode: "lockout", ipv6Prefix: 64, maxDelayMs: 900_000, canonicalUser: canonicalUsername });
    const delayOnly = AuthCalloutConfig.from({ issuerSeed, bruteForce: { mode: "delay-only", delayBaseMs: 1000, maxDelayMs: 60_000 } }).bruteForce!;
    // No lockout; a record keeps the failures that set the delay, up to the first at the cap (1 s · 2^6 ≥ 60 s).
    expect(delayOnly).toMatchObject({ mode: "delay-only", lockoutMs: 0, maxDelayMs: 60_000, perUser: { failures: 5 + 6 + 1, delayAfter: 5 } });
  });
});

describe("canonical usernames and client addresses", () => {
  it("canonicalUsername: NFKC, trimmed, case-folded without a locale", () => {
    for (const spelling of ["alice", "ALICE", "Alice", " alice", "alice\t", "ａｌｉｃｅ", "\u00a0alice"]) expect(canonicalUsername(spelling)).toBe("alice");
    expect(canonicalUsername("STRASSE")).toBe(canonicalUsername("straße"));
    expect(canonicalUsername("ΣΟΦΟΣ")).toBe(canonicalUsername("σοφος"));
    expect(canonicalUsername("İstanbul")).toBe(canonicalUsername("i̇stanbul"));
    expect(canonicalUsername("al ice")).toBe("al ice");
  });

  it("addressKey: IPv4 as is, IPv4-mapped as IPv4, IPv6 as its network", () => {
    expect(addressKey("10.0.0.1", 64)).toBe("10.0.0.1");
    expect(addressKey("::ffff:10.0.0.1", 64)).toBe("10.0.0.1");
    expect(addressKey("::FFFF:a00:1", 64)).toBe("10.0.0.1");
    expect(addressKey("2001:db8:1:2::1", 64)).toBe(addressKey("2001:DB8:1:2:ffff:ffff:ffff:ffff", 64));
    expect(addressKey("2001:db8:1:2::1", 64)).not.toBe(addressKey("2001:db8:1:3::1", 64));
    expect(addressKey("2001:db8:1:2::1", 48)).toBe(addressKey("2001:db8:1:ff::1", 48));
    expect(addressKey("2001:db8:1:2::1", 128)).not.toBe(addressKey("2001:db8:1:2::2", 128));
    expect(addressKey("2001:db8:1:2::1", 60)).toBe(addressKey("2001:db8:1:f::1", 60));
    expect(addressKey("2001:db8:1:2::1", 60)).not.toBe(addressKey("2001:db8:1:10::1", 60));
    expect(addressKey("fe80::1%eth0", 64)).toBe(addressKey("fe80::2", 64));
    expect(addressKey("1:2:3:4:5:6:7.8.9.10", 128)).toBe(addressKey("1:2:3:4:5:6:708:90a", 128));
    expect(addressKey("not-an-ip", 64)).toBe("not-an-ip");
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
      if (req.token === "good-token") return { account: "APP", permissions: "all" };
      throw new AuthError("bad token");
    }
    if (req.nkey !== undefined) throw new AuthError("unknown nkey");
    if (PASSWORDS[req.username ?? ""] !== req.password) throw new AuthError("invalid credentials");
    return { account: "APP", permissions: "all" };
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

  it("recordFailure counts a failure found elsewhere in the pipeline's own budgets", async () => {
    const guard = h.app.container.resolve(BruteForceGuard);
    expect(h.app.container.resolve(BruteForceGuard)).toBe(guard);
    for (let i = 0; i < 20; i++) guard.recordFailure({ user: "Bob ", host: "10.0.0.8" });
    expect((await h.authorize({ user: "bob", pass: PASSWORDS.bob, ...from("10.0.0.9") })).error).toBe("too many failed logins, retry later");
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
      if (req.token === "good-token") return { account: "APP", permissions: "all" };
      throw new AuthError("bad token");
    }
    const name = (req.username ?? "").normalize("NFKC").trim().toLowerCase();
    if (NORMALIZED[name] !== req.password) throw new AuthError("invalid credentials");
    return { account: "APP", permissions: "all" };
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

describe("delay-only mode and a custom canonicalUser in the pipeline", () => {
  let h: CalloutHarness;
  const logs = captureLogs();
  const maxDelayMs = 300;

  beforeAll(async () => {
    h = await createCalloutHarness({
      controllers: [NormalizingAuthorizer],
      logger: logs.logger,
      callout: {
        timeoutMs: 200,
        bruteForce: {
          mode: "delay-only",
          delayBaseMs: 50,
          maxDelayMs,
          perUser: { delayAfter: 2 },
          // Names are e-mail addresses here, and the authorizer ignores a "+tag".
          canonicalUser: (name) => canonicalUsername(name).replace(/\+[^@]*@/, "@"),
        },
      },
    });
  });
  afterAll(() => h.stop());

  it("delays a hammered user but never locks it out: maxDelayMs after the last failure, a login reaches the authorizer", async () => {
    const reasons: Array<string | undefined> = [];
    for (let i = 0; i < 40; i++) reasons.push((await h.authorize({ user: "carol@example.com", pass: `guess-${i}`, clientInfo: { host: "10.3.0.1" } })).error);
    expect(reasons.slice(0, 2)).toEqual(["invalid credentials", "invalid credentials"]);
    expect(reasons).toContain("too many failed logins, retry later");
    // A tagged spelling shares the budget (the custom canonical name), so it is delayed too.
    expect((await h.authorize({ user: "Carol+x@example.com", pass: "guess", clientInfo: { host: "10.3.0.2" } })).error).toBe("too many failed logins, retry later");
    await sleep(maxDelayMs + 20);
    // The first attempt after the delay reaches the authorizer (a real denial, not a lock).
    expect((await h.authorize({ user: "carol@example.com", pass: "still-wrong", clientInfo: { host: "10.3.0.1" } })).error).toBe("invalid credentials");
    expect(await h.app.metrics.registry.metrics()).not.toMatch(/natsflow_auth_lockouts_total\{key="user"\} [1-9]/);
  });

  it("logs a lockout under the canonical name", async () => {
    const strict = await createCalloutHarness({
      controllers: [NormalizingAuthorizer],
      logger: logs.logger,
      callout: { timeoutMs: 200, bruteForce: { perUser: { failures: 2, delayAfter: 2 } } },
    });
    try {
      for (const spelling of ["ALICE", " Alice"]) await strict.authorize({ user: spelling, pass: "wrong", clientInfo: { host: "2001:db8:9::7" } });
      expect(logs.find(/locked out/).at(-1)).toMatchObject({ event: "lockout", key: "user", user: "alice", client: { host: "2001:db8:9::7" } });
    } finally {
      await strict.stop();
    }
  });
});
