// Issue 17, done when: two instances with `store: "kv"` and 100 000 distinct failing keys still
// refuse the locked user. 100 000 logins over the wire would take minutes on a small machine, so the
// flood goes through each instance's `recordFailure` — the path the pipeline counts a denial by,
// writing to the shared bucket — and the refusals are proven over the wire.
import "reflect-metadata";

import { AuthCallout, AuthError, BruteForceGuard, type Authorizer, type AuthRequest, type Grant } from "@natsflow/auth-callout";
import { registerSecret } from "@natsflow/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { startKvCallouts, type KvCallouts } from "./support/kv-callouts.js";

const PASSWORDS: Record<string, string> = { alice: "alice-flood-password", bob: "bob-flood-password" };
for (const p of Object.values(PASSWORDS)) registerSecret(p);
const FLOOD = 100_000;
const BATCH = 2000;

/** Looks names up as many stores do: `ALICE` and ` alice` are alice. */
@AuthCallout()
class NormalizingAuthorizer implements Authorizer {
  authorize(req: AuthRequest): Grant {
    if (PASSWORDS[(req.username ?? "").trim().toLowerCase()] !== req.password) throw new AuthError("invalid credentials");
    return { account: "APP", permissions: "all" };
  }
}

describe("a lock survives 100 000 distinct failing keys on two instances sharing a KV bucket", () => {
  let kv: KvCallouts;

  beforeAll(async () => {
    kv = await startKvCallouts({ controllers: [NormalizingAuthorizer], bruteForce: { lockoutMs: 10 * 60_000, perUser: { failures: 3, delayAfter: 3 } } });
  });

  afterAll(() => kv?.stop());

  /** How many logins of `user` each instance refused as locked out. */
  const refusals = (user: string) => kv.logs.map((l) => l.find(/denied/).filter((e) => e.user === user && e.reasonKind === "locked").length);

  /** Logs in as `user` until both instances (the queue group picks one each time) refused it as locked; never admitted. */
  async function refusedByBoth(user: string, pass: string): Promise<void> {
    const before = refusals(user);
    for (let i = 0; i < 60 && refusals(user).some((n, j) => n === before[j]); i++) {
      expect(await kv.login(user, pass)).toBe(false);
    }
    expect(refusals(user).every((n, j) => n > before[j]!)).toBe(true);
  }

  const bucketValues = async () => (await (await kv.bucket()).status()).values;

  it("the victim, in any spelling, is refused by both instances after the flood; another user is admitted", async () => {
    // Both instances open the bucket on their first counted login.
    for (let i = 0; i < 20 && kv.logs.some((l) => l.find(/granted/).length === 0); i++) expect(await kv.login("bob", PASSWORDS.bob!)).toBe(true);
    expect(kv.logs.every((l) => l.find(/granted/).length > 0)).toBe(true);

    for (let i = 0; i < 3; i++) expect(await kv.login("alice", `guess-${i}`)).toBe(false);
    await refusedByBoth("alice", PASSWORDS.alice!);

    // The flood: one failure each for 100 000 other names, half through each instance, in batches the
    // server takes in before the next (all at once, writes time out and stay local: see the docs).
    const guards = kv.apps.map((a) => a.container.resolve(BruteForceGuard));
    const before = await bucketValues();
    for (let i = 0; i < FLOOD; ) {
      for (const end = Math.min(FLOOD, i + BATCH); i < end; i++) guards[i % 2]!.recordFailure({ user: `spray-${i}` });
      for (let seen = 0, since = Date.now(); seen < before + i; await new Promise((r) => setTimeout(r, 20))) {
        const now = await bucketValues();
        if (now > seen) [seen, since] = [now, Date.now()];
        // A write that times out is only retried with its key's next change: say so rather than wait forever.
        if (Date.now() - since > 15_000) throw new Error(`the bucket stopped at ${seen - before} of ${i} flood keys`);
      }
    }

    // A lock written after the flood: once each instance enforces it, its mirror has taken in every flood entry before it.
    await (await kv.bucket()).put(kv.userKey("marker"), JSON.stringify({ f: [], u: Date.now() + 60_000 }));
    await refusedByBoth("marker", "any");

    await refusedByBoth("alice", PASSWORDS.alice!);
    await refusedByBoth("ALICE", PASSWORDS.alice!);
    await refusedByBoth(" alice", PASSWORDS.alice!);
    // Not a blanket refusal: a user with no failures of its own still gets in.
    expect(await kv.login("bob", PASSWORDS.bob!)).toBe(true);
    // About 50 s on two shared cores, most of it the flood; the bound is for a much busier machine.
  }, 240_000);
});
