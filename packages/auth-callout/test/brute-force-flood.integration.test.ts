// Issue 17, done when: two instances with `store: "kv"` and 100 000 distinct failing keys still
// refuse the locked user. 100 000 logins over the wire would take minutes on a small machine, so the
// flood goes through each instance's `recordFailure` — the path the pipeline counts a denial by,
// writing to the shared bucket — and the refusals are proven over the wire.
import "reflect-metadata";

import { createHmac } from "node:crypto";

import { AuthCallout, AuthCalloutConfig, authCalloutConfig, AuthError, BruteForceGuard, DEFAULT_FAILURE_BUCKET, type Authorizer, type AuthRequest, type Grant } from "@natsflow/auth-callout";
import { NatsApp } from "@natsflow/core";
import { captureLogs, configModeCallout, registerSecret, startNatsServer, type CapturedLogs, type ConfigModeCallout, type NatsServer } from "@natsflow/testing";
import { connect } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const PASSWORDS: Record<string, string> = { alice: "alice-flood-password", bob: "bob-flood-password" };
for (const p of Object.values(PASSWORDS)) registerSecret(p);
const FLOOD = 100_000;
const BATCH = 5000;

/** Looks names up as many stores do: `ALICE` and ` alice` are alice. */
@AuthCallout()
class NormalizingAuthorizer implements Authorizer {
  authorize(req: AuthRequest): Grant {
    if (PASSWORDS[(req.username ?? "").trim().toLowerCase()] !== req.password) throw new AuthError("invalid credentials");
    return { account: "APP" };
  }
}

describe("a lock survives 100 000 distinct failing keys on two instances sharing a KV bucket", () => {
  let server: NatsServer;
  let setup: ConfigModeCallout;
  const apps: NatsApp[] = [];
  const logs: CapturedLogs[] = [];
  let client: ReturnType<typeof connect>;

  beforeAll(async () => {
    setup = configModeCallout({ xkey: true, jetstream: true });
    server = await startNatsServer({ config: setup.serverConfig, jetstream: true });
    for (let i = 0; i < 2; i++) {
      const captured = captureLogs();
      const app = await NatsApp.create({
        servers: server.url,
        ...setup.serviceUser,
        controllers: [NormalizingAuthorizer],
        providers: [authCalloutConfig({ ...setup.callout, bruteForce: { store: "kv", lockoutMs: 10 * 60_000, perUser: { failures: 3, delayAfter: 3 } } })],
        logger: captured.logger,
      });
      await app.start();
      apps.push(app);
      logs.push(captured);
    }
    client = connect({ servers: server.url, ...setup.serviceUser });
  });

  afterAll(async () => {
    await (await client)?.close();
    await Promise.all(apps.map((a) => a.stop()));
    await server?.stop();
  });

  async function login(user: string, pass: string): Promise<boolean> {
    try {
      const nc = await connect({ servers: server.url, user, pass, reconnect: false, timeout: 4000 });
      await nc.close();
      return true;
    } catch {
      return false;
    }
  }

  /** How many logins of `user` each instance refused as locked out. */
  const refusals = (user: string) => logs.map((l) => l.find(/denied/).filter((e) => e.user === user && e.reasonKind === "locked").length);

  /** Logs in as `user` until both instances (the queue group picks one each time) refused it as locked; never admitted. */
  async function refusedByBoth(user: string, pass: string): Promise<void> {
    const before = refusals(user);
    for (let i = 0; i < 60 && refusals(user).some((n, j) => n === before[j]); i++) {
      expect(await login(user, pass)).toBe(false);
    }
    expect(refusals(user).every((n, j) => n > before[j]!)).toBe(true);
  }

  /** Keys in the bucket, as a client of the server sees it. */
  async function bucketValues(): Promise<number> {
    const nc = await client;
    return (await (await nc.jetstream().views.kv(DEFAULT_FAILURE_BUCKET, { bindOnly: true })).status()).values;
  }

  it("the victim, in any spelling, is refused by both instances after the flood; another user is admitted", async () => {
    // Both instances open the bucket on their first counted login.
    for (let i = 0; i < 20 && logs.some((l) => l.find(/granted/).length === 0); i++) expect(await login("bob", PASSWORDS.bob!)).toBe(true);
    expect(logs.every((l) => l.find(/granted/).length > 0)).toBe(true);

    for (let i = 0; i < 3; i++) expect(await login("alice", `guess-${i}`)).toBe(false);
    await refusedByBoth("alice", PASSWORDS.alice!);

    // The flood: one failure each for 100 000 other names, half through each instance, in batches the
    // server takes in before the next (all at once, writes time out and stay local: see the docs).
    const guards = apps.map((a) => a.container.resolve(BruteForceGuard));
    const before = await bucketValues();
    for (let i = 0; i < FLOOD; ) {
      for (const end = Math.min(FLOOD, i + BATCH); i < end; i++) guards[i % 2]!.recordFailure({ user: `spray-${i}` });
      while ((await bucketValues()) < before + i) await new Promise((r) => setTimeout(r, 20));
    }

    // A lock written after the flood: once each instance enforces it, its mirror has taken in every flood entry before it.
    const secret = AuthCalloutConfig.from(setup.callout).bruteForce!.keySecret;
    const kv = await (await client).jetstream().views.kv(DEFAULT_FAILURE_BUCKET, { bindOnly: true });
    await kv.put(`u.${createHmac("sha256", secret).update("marker").digest("base64url").slice(0, 32)}`, JSON.stringify({ f: [], u: Date.now() + 60_000 }));
    await refusedByBoth("marker", "any");

    await refusedByBoth("alice", PASSWORDS.alice!);
    await refusedByBoth("ALICE", PASSWORDS.alice!);
    await refusedByBoth(" alice", PASSWORDS.alice!);
    // Not a blanket refusal: a user with no failures of its own still gets in.
    expect(await login("bob", PASSWORDS.bob!)).toBe(true);
    // About 50 s on two shared cores, most of it the flood; the bound is for a much busier machine.
  }, 240_000);
});
