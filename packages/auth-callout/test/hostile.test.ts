// 10 000 hostile requests through the whole pipeline in memory: no crash, no grant, flat memory,
// and a valid client is still served afterwards.
import "reflect-metadata";

import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

import { AuthCallout, authCalloutConfig, AuthError, AUTH_CALLOUT_SUBJECT, type Authorizer, type AuthRequest, type Grant } from "@natsflow/auth-callout";
import { connectNats, NatsApp } from "@natsflow/core";
import { captureLogs, createCalloutHarness, FakeCalloutServer, newAccountKey, newCurveKey, registerSecret, startNatsServer, type CalloutHarness } from "@natsflow/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { hostileSample } from "./support/hostile-corpus.js";

const SECRET = "a-password-no-generator-will-guess-0f9e8d7c";
registerSecret(SECRET);
setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

@AuthCallout({ concurrency: 512 })
class StrictAuthorizer implements Authorizer {
  authorize(req: AuthRequest): Grant {
    if (req.username === "alice" && req.password === SECRET) return { account: "APP", permissions: "all" };
    throw new AuthError("invalid credentials");
  }
}

for (const xkey of [true, false]) {
  describe(`hostile input in memory (xkey ${xkey ? "on" : "off"})`, () => {
    let h: CalloutHarness;
    const logs = captureLogs("info");

    beforeAll(async () => {
      h = await createCalloutHarness({ controllers: [StrictAuthorizer], xkey, logger: logs.logger });
    });
    afterAll(() => h?.stop());

    it("10 000 generated requests: 0 crashes, 0 grants, memory flat, valid client still served", async () => {
      const corpus = hostileSample(h.server, h.xkey?.publicKey, 10_000);
      expect(corpus.length).toBe(10_000);
      const client = h.broker.connect();
      let answered = 0;
      client.subscribe("_INBOX.corpus.>", {}, () => void answered++);
      gc();
      const heapBefore = process.memoryUsage().heapUsed;
      for (let i = 0; i < corpus.length; i += 500) {
        for (const [j, r] of corpus.slice(i, i + 500).entries()) {
          client.publish(AUTH_CALLOUT_SUBJECT, r.data, { reply: `_INBOX.corpus.${i + j}`, ...(r.headers ? { headers: r.headers } : {}) });
        }
        // Let each batch settle: the pipeline answers or drops every request, it never hangs.
        await expect.poll(() => logs.lines.length, { timeout: 20_000, interval: 20 }).toBeGreaterThanOrEqual(i + Math.min(500, corpus.length - i));
      }
      const decisions = logs.entries().filter((e) => typeof e.decision === "string");
      expect(decisions.length).toBe(corpus.length);
      expect(decisions.filter((e) => e.decision === "grant")).toHaveLength(0);
      expect(answered).toBe(decisions.filter((e) => e.decision === "deny").length);
      const kinds = new Set(corpus.map((r) => r.kind.replace(" (duplicate)", "")));
      expect(kinds.size).toBeGreaterThanOrEqual(17);
      corpus.length = 0;
      logs.lines.length = 0;
      gc();
      const heapAfter = process.memoryUsage().heapUsed;
      expect(heapAfter - heapBefore).toBeLessThan(32 * 1024 * 1024);
      // The corpus's denials from 127.0.0.1 spent that address's brute-force budget; a client elsewhere is served.
      const ok = await h.authorize({ user: "alice", pass: SECRET, clientInfo: { host: "192.0.2.10" } });
      expect(ok.userJwt).toBeDefined();
      await client.close();
    }, 240_000);
  });
}

describe("hostile input over the wire", () => {
  it("published on $SYS.REQ.USER.AUTH to a real server: 0 grants, and a valid request is granted afterwards", async () => {
    // A server with no callout of its own lets a test client publish on the callout subject.
    const server = await startNatsServer();
    const issuer = newAccountKey();
    const xkey = newCurveKey();
    const logs = captureLogs("info");
    const app = await NatsApp.create({
      servers: server.url,
      controllers: [StrictAuthorizer],
      providers: [authCalloutConfig({ issuerSeed: issuer.seed, xkeySeed: xkey.seed })],
      logger: logs.logger,
    });
    await app.start();
    const client = await connectNats({ servers: server.url });
    try {
      const fake = new FakeCalloutServer({ issuer: issuer.publicKey, xkey: xkey.publicKey });
      const corpus = hostileSample(fake, xkey.publicKey, 2000, 77).filter((r) => r.data.length < 900_000);
      for (const [i, r] of corpus.entries()) {
        client.publish(AUTH_CALLOUT_SUBJECT, r.data, { reply: `_INBOX.wire.${i}`, ...(r.headers ? { headers: r.headers } : {}) });
        if (i % 200 === 199) await client.flush();
      }
      await client.flush();
      await expect.poll(() => logs.entries().filter((e) => typeof e.decision === "string").length, { timeout: 60_000 }).toBe(corpus.length);
      expect(logs.entries().filter((e) => e.decision === "grant")).toHaveLength(0);
      // As in memory: 127.0.0.1 is locked out by now, another address is not.
      const valid = fake.mint({ user: "alice", pass: SECRET, clientInfo: { host: "192.0.2.10" } });
      const reply = await client.request(AUTH_CALLOUT_SUBJECT, valid.data, { timeoutMs: 2000, ...(valid.headers ? { headers: valid.headers } : {}) });
      expect(fake.openResponse(reply.data, valid).userJwt).toBeDefined();
    } finally {
      await client.close();
      await app.stop();
      await server.stop();
    }
  }, 120_000);
});
