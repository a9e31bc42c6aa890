import "reflect-metadata";

import { AuthCallout, authCalloutConfig, AuthError, type Authorizer, type AuthRequest, type Grant, Ed25519Signer } from "@natsflow/auth-callout";
import { captureLogs, createCalloutHarness, FakeCalloutServer, newAccountKey, newCurveKey, registerSecret, type CalloutHarness } from "@natsflow/testing";
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

class Directory {
  readonly users = new Map([["alice", { pass: "wonderland", account: "APP" }]]);
}

let seen: AuthRequest | undefined;
registerSecret("wonderland");

@AuthCallout()
class TestAuthorizer implements Authorizer {
  constructor(private readonly directory: Directory) {}

  async authorize(req: AuthRequest): Promise<Grant> {
    seen = req;
    const user = req.username ?? "";
    if (user === "crash") throw new Error("pg: connection to 10.9.8.7:5432 refused");
    if (user === "hang") return new Promise(() => undefined);
    if (user === "nogrant") return undefined as unknown as Grant;
    if (user === "badgrant") return { account: "APP", permissions: { pub: { allow: ["bad subject"] }, sub: { allow: ["_INBOX.>"] } } };
    if (user === "negative") return { account: "APP", permissions: "all", limits: { subs: -5 } };
    if (user === "noaccount") return { account: "", permissions: "all" };
    if (user === "restricted") return { account: "APP", permissions: "all", allowedConnectionTypes: ["WEBSOCKET"], limits: { src: ["10.0.0.0/8", "::1/128"] } };
    const record = this.directory.users.get(user);
    if (!record || record.pass !== req.password) throw new AuthError("invalid credentials");
    return { account: record.account, permissions: { pub: { allow: ["alice.>"] }, sub: { allow: ["_INBOX.>"] }, resp: { max: 1 } }, expiresInSeconds: 60, tags: ["demo"] };
  }
}

for (const xkey of [true, false]) {
  describe(`callout pipeline in memory (xkey ${xkey ? "on" : "off"})`, () => {
    let h: CalloutHarness;
    const logs = captureLogs();

    beforeAll(async () => {
      h = await createCalloutHarness({ controllers: [TestAuthorizer], providers: [Directory], xkey, logger: logs.logger, callout: { timeoutMs: 300 } });
    });
    afterAll(() => h.stop());

    it("grants with a user JWT for the request's user nkey, signed by the issuer", async () => {
      const answer = await h.authorize({ user: "alice", pass: "wonderland", name: "my-client" });
      expect(answer.error).toBeUndefined();
      expect(answer.claims.iss).toBe(h.issuer.publicKey);
      expect(answer.claims.aud).toBe(h.server.id);
      const user = answer.user!;
      expect(user.iss).toBe(h.issuer.publicKey);
      expect(user.aud).toBe("APP");
      expect(user.name).toBe("alice");
      expect(user.nats.pub).toEqual({ allow: ["alice.>"] });
      expect(user.nats.resp).toEqual({ max: 1, ttl: 0 });
      expect(user.nats.tags).toEqual(["demo"]);
      expect(user.exp! - Math.floor(Date.now() / 1000)).toBeGreaterThan(55);
      expect(seen?.connectOpts.name).toBe("my-client");
      expect(seen?.server.id).toBe(h.server.id);
      const grantLog = logs.find(/granted/).at(-1) as Record<string, unknown>;
      expect(grantLog).toMatchObject({ decision: "grant", account: "APP", user: "alice" });
      expect(JSON.stringify(logs.lines)).not.toContain("wonderland");
    });

    it("denies with the AuthError's reason", async () => {
      const answer = await h.authorize({ user: "alice", pass: "wrong" });
      expect(answer.error).toBe("invalid credentials");
      expect(answer.userJwt).toBeUndefined();
    });

    it("denies an unexpected exception with a generic reason and logs the stack", async () => {
      const answer = await h.authorize({ user: "crash", pass: "x" });
      expect(answer.error).toBe("internal authorization error");
      expect(JSON.stringify(answer.claims)).not.toContain("10.9.8.7");
      const entry = logs.find(/denied/).at(-1) as { err?: { stack?: string }; reason?: string };
      expect(entry.reason).toBe("internal authorization error");
      expect(entry.err?.stack).toContain("pg: connection to 10.9.8.7:5432 refused");
    });

    it("denies a missing or invalid grant, saying which key is wrong (reason kind invalid_grant)", async () => {
      const cases: Array<[string, RegExp]> = [
        ["nogrant", /^invalid grant: must be an object \{ account, permissions, … \}, not undefined$/],
        ["badgrant", /^invalid grant: permissions\.pub\.allow\[0\]: invalid subject "bad subject"$/],
        ["negative", /^invalid grant: limits\.subs: must be an integer ≥ -1 \(-1: no limit\), not -5$/],
        ["noaccount", /^invalid grant: account: must be a non-empty name without spaces$/],
      ];
      for (const [user, reason] of cases) {
        expect((await h.authorize({ user })).error).toMatch(reason);
        expect(logs.find(/denied/).at(-1)).toMatchObject({ user, reasonKind: "invalid_grant", reason: expect.stringMatching(reason) });
      }
    });

    it("enforces the grant's connection types and source networks itself", async () => {
      const ws = { user: "restricted", clientInfo: { type: "websocket", host: "10.1.2.3" } };
      expect((await h.authorize(ws)).userJwt).toBeDefined();
      expect((await h.authorize({ ...ws, clientInfo: { type: "nats", host: "10.1.2.3" } })).error).toBe("connection type STANDARD not allowed");
      expect((await h.authorize({ ...ws, clientInfo: { type: "websocket", host: "192.168.1.1" } })).error).toBe("source address not allowed");
      expect((await h.authorize({ ...ws, clientInfo: { type: "websocket", host: "::1" } })).userJwt).toBeDefined();
    });

    it("denies an authorizer that misses the deadline, and aborts its signal", async () => {
      const answer = await h.authorize({ user: "hang" });
      expect(answer.error).toBe("authorization timed out");
      expect(seen?.signal.aborted).toBe(true);
    });

    it("refuses each hanging authorizer at its own deadline while the others are answered at once (one shared timer)", async () => {
      const started = Date.now();
      const answers = await Promise.all(
        Array.from({ length: 30 }, async (_, i) => {
          // Staggered, so the deadlines differ and the timer must be re-armed for each hanging one.
          await new Promise((r) => setTimeout(r, i * 10));
          const answer = await h.authorize(i % 3 === 0 ? { user: "hang" } : { user: "alice", pass: "wonderland" });
          return { i, answer, ms: Date.now() - started - i * 10 };
        }),
      );
      for (const { i, answer, ms } of answers) {
        if (i % 3 === 0) {
          expect(answer.error).toBe("authorization timed out");
          expect(ms).toBeGreaterThanOrEqual(250); // timeoutMs is 300 here
        } else {
          expect(answer.userJwt).toBeDefined();
        }
      }
    });

    it("handles requests concurrently", async () => {
      const results = await Promise.all(Array.from({ length: 20 }, () => h.authorize({ user: "alice", pass: "wonderland" })));
      expect(results.every((r) => r.userJwt)).toBe(true);
    });
  });
}

describe("callout pipeline: requests that must never be granted", () => {
  let h: CalloutHarness;
  const logs = captureLogs();

  beforeAll(async () => {
    h = await createCalloutHarness({ controllers: [TestAuthorizer], providers: [Directory], xkey: true, logger: logs.logger });
  });
  afterAll(() => h.stop());

  const alice = { user: "alice", pass: "wonderland" } as const;

  async function expectSignedDenial(minted: ReturnType<FakeCalloutServer["mint"]>, reason: RegExp): Promise<void> {
    const data = await h.send(minted);
    expect(data, "expected a signed error, got silence").toBeDefined();
    const answer = h.server.openResponse(data!, minted);
    expect(answer.userJwt).toBeUndefined();
    expect(answer.error).toMatch(reason);
  }

  async function expectDrop(request: { data: Uint8Array; headers?: Record<string, string> | undefined }): Promise<void> {
    expect(await h.send({ data: request.data, headers: request.headers }, 400)).toBeUndefined();
  }

  it("bad signature, from an impostor that claims the server's identity but cannot seal with its xkey", async () => {
    await h.authorize(alice); // the real server's xkey is known now
    const impostor = new FakeCalloutServer({ issuer: h.issuer.publicKey, xkey: h.xkey?.publicKey });
    const forged = impostor.mint({
      ...alice,
      tamper: (c) => {
        c.iss = h.server.id;
        (c.nats.server_id as { id: string }).id = h.server.id;
      },
    });
    // The answer is addressed to the server it claims to be, which the impostor cannot open: the decision log says why.
    expect(await h.send(forged)).toBeDefined();
    expect(logs.find(/denied/).at(-1)).toMatchObject({ reason: "invalid authorization request: bad signature" });
  });

  it("issuer that is not the server_id", async () => {
    const other = Ed25519Signer.generate("server");
    await expectSignedDenial(h.server.mint({ ...alice, signer: other, tamper: (c) => void (c.iss = other.publicKey) }), /issuer is not the server_id/);
  });

  it("issuer that is not a server key", async () => {
    const account = Ed25519Signer.generate("account");
    await expectSignedDenial(h.server.mint({ ...alice, signer: account, tamper: (c) => void (c.iss = account.publicKey) }), /issuer is not a server key/);
  });

  it("wrong audience", async () => {
    await expectSignedDenial(h.server.mint({ ...alice, tamper: (c) => void (c.aud = "someone-else") }), /audience/);
  });

  it("wrong type", async () => {
    await expectSignedDenial(h.server.mint({ ...alice, tamper: (c) => void (c.nats.type = "user") }), /type is not authorization_request/);
  });

  it("expired", async () => {
    await expectSignedDenial(h.server.mint({ ...alice, tamper: (c) => void (c.exp = Math.floor(Date.now() / 1000) - 1) }), /expired/);
  });

  it("addressed to another issuer", async () => {
    const otherIssuer = Ed25519Signer.generate("account").publicKey;
    await expectSignedDenial(h.server.mint({ ...alice, tamper: (c) => void (c.sub = otherIssuer) }), /another issuer/);
  });

  it("header xkey that does not match server_id.xkey", async () => {
    await expectSignedDenial(h.server.mint({ ...alice, tamper: (c) => void ((c.nats.server_id as { xkey?: string }).xkey = newCurveKey().publicKey) }), /does not match server_id\.xkey/);
  });

  it("header xkey of another sender: the box does not open, so it is dropped", async () => {
    await expectDrop(h.server.mint({ ...alice, headerXkey: newCurveKey().publicKey }));
  });

  it("plain request while an xkey is configured: encryption mismatch", async () => {
    await expectSignedDenial(h.server.mint({ ...alice, seal: false }), /encryption mismatch/);
    expect(logs.lines.join("\n")).toMatch(/encryption mismatch/);
  });

  it("garbage, truncated boxes, flipped bytes and non-JWT text are dropped", async () => {
    const sealed = h.server.mint(alice);
    const flipped = Uint8Array.from(sealed.data);
    flipped[40] = (flipped[40] as number) ^ 0xff;
    await expectDrop({ data: randomBytes(300), headers: sealed.headers });
    await expectDrop({ data: sealed.data.subarray(0, sealed.data.length - 10), headers: sealed.headers });
    await expectDrop({ data: flipped, headers: sealed.headers });
    await expectDrop({ data: new TextEncoder().encode("hello") });
    await expectDrop({ data: new Uint8Array(0) });
    expect(logs.find(/dropped/).length).toBeGreaterThanOrEqual(4);
  });

  it("a JWT with another algorithm", async () => {
    // Plain requests need a service without xkey.
    const noXkey = await createCalloutHarness({ controllers: [TestAuthorizer], providers: [Directory], xkey: false, logger: captureLogs().logger });
    try {
      const own = noXkey.server.mint(alice);
      const [, body, sig] = new TextDecoder().decode(own.data).split(".");
      const header = Buffer.from(JSON.stringify({ typ: "JWT", alg: "HS256" })).toString("base64url");
      const data = await noXkey.send({ data: new TextEncoder().encode(`${header}.${body}.${sig}`), headers: undefined });
      expect(noXkey.server.openResponse(data!, own).error).toMatch(/unsupported JWT algorithm/);
    } finally {
      await noXkey.stop();
    }
  });

  it("keeps serving a valid client after all of that", async () => {
    expect((await h.authorize(alice)).userJwt).toBeDefined();
  });
});

describe("request signatures and the server's xkey", () => {
  for (const requestSignatures of ["once-per-server-xkey", "every-request"] as const) {
    it(`${requestSignatures}: a box sealed by a known server xkey ${requestSignatures === "every-request" ? "still needs" : "stands in for"} the signature`, async () => {
      const logs = captureLogs();
      const h = await createCalloutHarness({ controllers: [TestAuthorizer], providers: [Directory], xkey: true, logger: logs.logger, callout: { requestSignatures } });
      try {
        const alice = { user: "alice", pass: "wonderland" };
        // Sealed by the server's xkey but not signed by its key: only the holder of its curve key could send this.
        const badlySigned = { ...alice, signer: Ed25519Signer.generate("server") };
        // A server xkey seen for the first time is bound only by a verified signature.
        expect((await h.authorize(badlySigned)).error).toBe("invalid authorization request: bad signature");
        expect((await h.authorize(alice)).userJwt).toBeDefined();
        const after = await h.authorize(badlySigned);
        if (requestSignatures === "every-request") expect(after.error).toBe("invalid authorization request: bad signature");
        else expect(after.userJwt).toBeDefined();
        // The xkey vouches only for the server it was bound to: another issuer is checked in full.
        const other = Ed25519Signer.generate("server").publicKey;
        const elsewhere = h.server.mint({
          ...badlySigned,
          tamper: (c) => {
            c.iss = other;
            (c.nats.server_id as { id: string }).id = other;
          },
        });
        expect(await h.send(elsewhere)).toBeDefined(); // addressed to `other`, so only the log can be read here
        expect(logs.find(/denied/).at(-1)).toMatchObject({ reason: "invalid authorization request: bad signature" });
      } finally {
        await h.stop();
      }
    });
  }

  it("refuses an unknown setting at start-up", () => {
    expect(() => authCalloutConfig({ issuerSeed: newAccountKey().seed, requestSignatures: "sometimes" as "every-request" })).toThrow(/requestSignatures: must be "once-per-server-xkey" or "every-request"/);
  });
});

describe("encryption mismatch: sealed request, service without xkey", () => {
  it("is dropped and logged, never granted", async () => {
    const logs = captureLogs();
    const h = await createCalloutHarness({ controllers: [TestAuthorizer], providers: [Directory], xkey: false, logger: logs.logger });
    try {
      const sealingServer = new FakeCalloutServer({ issuer: h.issuer.publicKey, xkey: newCurveKey().publicKey });
      const minted = sealingServer.mint({ user: "alice", pass: "wonderland" });
      expect(await h.send(minted, 400)).toBeUndefined();
      expect(logs.lines.join("\n")).toMatch(/encryption mismatch: the server sealed the request but this service has no xkey/);
    } finally {
      await h.stop();
    }
  });
});

describe("back-pressure: requests past maxPending", () => {
  for (const overflow of ["busy", "drop"] as const) {
    it(`are ${overflow === "busy" ? "refused with a signed 'service busy'" : "dropped"}, never granted`, async () => {
      const gate: Array<() => void> = [];
      @AuthCallout({ concurrency: 1, maxPending: 0, overflow })
      class Slow implements Authorizer {
        async authorize(): Promise<Grant> {
          await new Promise<void>((r) => gate.push(r));
          return { account: "APP", permissions: "all" };
        }
      }
      const logs = captureLogs();
      const h = await createCalloutHarness({ controllers: [Slow], logger: logs.logger });
      try {
        const first = h.server.mint({ user: "a" });
        const pending = h.send(first);
        await expect.poll(() => gate.length).toBe(1);
        const second = h.server.mint({ user: "b" });
        const answer = await h.send(second, 500);
        if (overflow === "busy") expect(h.server.openResponse(answer!, second).error).toBe("service busy");
        else expect(answer).toBeUndefined();
        gate.shift()?.();
        expect(h.server.openResponse((await pending)!, first).userJwt).toBeDefined();
        expect(logs.lines.join("\n")).toMatch(overflow === "busy" ? /service busy/ : /request dropped, too many waiting/);
      } finally {
        await h.stop();
      }
    });
  }
});
