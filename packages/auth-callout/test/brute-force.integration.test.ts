// Brute-force protection against a real nats-server with JetStream: two instances in one queue
// group share one failure budget through a KV bucket.
import "reflect-metadata";

import { AuthCallout, AuthError, isLocked, KvFailureStore, withFailure, type Authorizer, type AuthRequest, type Grant } from "@natsflow/auth-callout";
import { Broker, connectNats, type NatsApp } from "@natsflow/core";
import { registerSecret, type CapturedLogs, type NatsServer } from "@natsflow/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { startKvCallouts, type KvCallouts } from "./support/kv-callouts.js";

const PASSWORDS: Record<string, string> = { alice: "alice-real-password", bob: "bob-real-password" };
for (const p of Object.values(PASSWORDS)) registerSecret(p);
const LOCKED = /returned an error: too many failed logins, retry later/;
const LOCKOUT_MS = 3000;

@AuthCallout()
class PasswordAuthorizer implements Authorizer {
  authorize(req: AuthRequest): Grant {
    if (PASSWORDS[req.username ?? ""] !== req.password) throw new AuthError("invalid credentials");
    return { account: "APP", permissions: "all" };
  }
}

describe("brute-force protection on a real server, two instances sharing a KV bucket", () => {
  let kv: KvCallouts;
  let server: NatsServer;
  let apps: NatsApp[];
  let logs: CapturedLogs[];
  let login: KvCallouts["login"];

  beforeAll(async () => {
    // No delay before the lockout: every refusal then comes from the shared count, which neither
    // instance reaches alone with about half of the failures.
    kv = await startKvCallouts({ controllers: [PasswordAuthorizer], bruteForce: { lockoutMs: LOCKOUT_MS, perUser: { failures: 20, delayAfter: 20 } } });
    ({ server, apps, logs, login } = kv);
  });

  afterAll(() => kv?.stop());

  /** The sum of every series matching `series`, whose first group is the value. */
  const counter = async (app: NatsApp, series: RegExp) =>
    [...(await app.metrics.registry.metrics()).matchAll(new RegExp(series, "g"))].reduce((n, m) => n + Number(m[1]), 0);
  const denied = (app: NatsApp) => counter(app, /natsflow_auth_decisions_total\{decision="deny",reason="(?:denied|locked)"\} (\d+)/);
  const locked = (app: NatsApp) => counter(app, /natsflow_auth_decisions_total\{decision="deny",reason="locked"\} (\d+)/);
  const total = async (f: (app: NatsApp) => Promise<number>) => (await Promise.all(apps.map(f))).reduce((a, b) => a + b, 0);

  it("admits right passwords on both instances", async () => {
    // A first password login on an instance opens the bucket and starts its mirror.
    for (let i = 0; i < 10; i++) expect(await login("bob", PASSWORDS.bob!)).toBe(true);
    const granted = await Promise.all(apps.map((a) => counter(a, /natsflow_auth_decisions_total\{decision="grant",reason="granted"\} (\d+)/)));
    expect(granted.every((n) => n > 0)).toBe(true);
  });

  it("20 wrong passwords lock the user out on both instances; the right one is refused until the lockout ends; another user is unaffected", async () => {
    const deniedBefore = await Promise.all(apps.map(denied));
    for (let i = 0; i < 20; i++) expect(await login("alice", `guess-${i}`)).toBe(false);
    const deniedBy = (await Promise.all(apps.map(denied))).map((n, i) => n - deniedBefore[i]!);
    // The queue group spread the failures over both instances, and each was counted once.
    expect(deniedBy[0]).toBeGreaterThan(0);
    expect(deniedBy[1]).toBeGreaterThan(0);
    const lockedAt = Date.now();

    // The right password is refused — by both instances, which only share the count through the bucket.
    const lockedBefore = await Promise.all(apps.map(locked));
    const refusedBy = () => Promise.all(apps.map(async (a, i) => (await locked(a)) - lockedBefore[i]!));
    while (Date.now() - lockedAt < LOCKOUT_MS - 1000 && (await refusedBy()).some((n) => n === 0)) {
      expect(await login("alice", PASSWORDS.alice!)).toBe(false);
    }
    expect((await refusedBy()).every((n) => n > 0)).toBe(true);
    await server.waitForLog(LOCKED);

    // Another user, same address: unaffected.
    expect(await login("bob", PASSWORDS.bob!)).toBe(true);

    // The lockout is announced once, by the instance whose write spent the budget.
    const lockouts = await total((a) => counter(a, /natsflow_auth_lockouts_total\{key="user"\} (\d+)/));
    expect(lockouts).toBe(1);
    const events = logs.flatMap((l) => l.find(/locked out/));
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ event: "lockout", key: "user", user: "alice", client: { host: "127.0.0.1" } });

    // Once the lockout is over, the right password is admitted.
    await new Promise((r) => setTimeout(r, Math.max(0, lockedAt + LOCKOUT_MS + 200 - Date.now())));
    expect(await login("alice", PASSWORDS.alice!)).toBe(true);
  });

  it("keeps the counters in a bucket with a TTL, under keyed hashes, never a username or address", async () => {
    const bucket = await kv.bucket();
    expect((await bucket.status()).ttl).toBe(15 * 60_000 + LOCKOUT_MS);
    const keys: string[] = [];
    for await (const k of await bucket.keys()) keys.push(k);
    expect(keys.length).toBeGreaterThan(0);
    for (const k of keys) expect(k).toMatch(/^[ua]\.[A-Za-z0-9_-]{32}$/);
    const values = await Promise.all(keys.map(async (k) => (await bucket.get(k))?.string() ?? ""));
    expect(values.join("\n")).not.toMatch(/alice|bob|127\.0\.0\.1/);
  });

  /** Writes a record into the shared bucket as anyone with write access to it could. */
  const forge = async (user: string, record: { f: number[]; u: number }) => (await kv.bucket()).put(kv.userKey(user), JSON.stringify(record));

  it("a forged lock end far in the future locks the user for at most lockoutMs", async () => {
    const forgedAt = Date.now();
    await forge("alice", { f: [], u: forgedAt + 10 * 365 * 86_400_000 });
    const lockedBefore = await Promise.all(apps.map(locked));
    // Both instances take the forged lock (the queue group picks one per login)...
    while (Date.now() - forgedAt < LOCKOUT_MS - 1000 && (await Promise.all(apps.map(locked))).some((n, i) => n === lockedBefore[i])) {
      expect(await login("alice", PASSWORDS.alice!)).toBe(false);
    }
    expect((await Promise.all(apps.map(locked))).every((n, i) => n > lockedBefore[i]!)).toBe(true);
    expect(logs.some((l) => l.find(/not written by an instance/).length > 0)).toBe(true);
    // ...but only for lockoutMs after it reached them, not for ten years.
    await new Promise((r) => setTimeout(r, Math.max(0, forgedAt + LOCKOUT_MS + 300 - Date.now())));
    for (let i = 0; i < 4; i++) expect(await login("alice", PASSWORDS.alice!)).toBe(true);
  });

  it("forged failure timestamps in the future are not trusted", async () => {
    const forgedAt = Date.now();
    // 20 failures an hour from now: trusted, they would delay bob for an hour and stay in the window for 75 minutes.
    await forge("bob", { f: Array.from({ length: 20 }, () => forgedAt + 3_600_000), u: 0 });
    // Counted as failures made when the record arrived: the delay (1 s after the last) passes.
    await new Promise((r) => setTimeout(r, 1500));
    for (let i = 0; i < 4; i++) expect(await login("bob", PASSWORDS.bob!)).toBe(true);
  });

  it("the local copy of a record goes when the bucket's TTL removes it", async () => {
    const transport = await connectNats({ servers: server.url, ...kv.setup.serviceUser });
    try {
      const timing = { windowMs: 400, lockoutMs: 400, delayBaseMs: 100 };
      const store = new KvFailureStore({ bucket: "failures_ttl", timing, broker: new Broker(() => transport), logger: logs[0]!.logger });
      store.get("u.probe");
      const kv = await transport.kv("failures_ttl", { ttlMs: timing.windowMs + timing.lockoutMs });
      // A lock the store wrote itself, and one forged far into the future.
      for (let i = 0; i < 3; i++) store.change("u.own", (r) => withFailure(r, { failures: 3, delayAfter: 3 }, timing, Date.now()));
      await kv.put("u.forged", new TextEncoder().encode(JSON.stringify({ f: [Date.now() + 3_600_000], u: Date.now() + 3_600_000 })));
      const until = Date.now() + 200;
      while (Date.now() < until && !isLocked(store.get("u.forged"), Date.now())) await new Promise((r) => setTimeout(r, 10));
      expect(isLocked(store.get("u.own"), Date.now())).toBe(true);
      expect(isLocked(store.get("u.forged"), Date.now())).toBe(true);
      // The bucket's TTL is windowMs + lockoutMs: past it the server has dropped both keys, and so has the local copy.
      await new Promise((r) => setTimeout(r, timing.windowMs + timing.lockoutMs));
      // The server expires messages on a timer of its own.
      const gone = async () => (await kv.get("u.own")) === undefined && (await kv.get("u.forged")) === undefined;
      for (let i = 0; i < 100 && !(await gone()); i++) await new Promise((r) => setTimeout(r, 50));
      expect(await gone()).toBe(true);
      expect(store.get("u.own")).toBeUndefined();
      expect(store.get("u.forged")).toBeUndefined();
    } finally {
      await transport.close();
    }
  });
});
