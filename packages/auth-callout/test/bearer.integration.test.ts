// OAuth/OIDC bearer tokens through a real nats-server: a local identity provider, a token-carrying client.
import "reflect-metadata";

import {
  AuthCallout,
  authCalloutConfig,
  BearerTokenVerifier,
  grantFromClaims,
  type Authorizer,
  type AuthRequest,
  type Grant,
} from "@natsflow/auth-callout";
import { inject, NatsApp } from "@natsflow/core";
import { captureLogs, configModeCallout, startNatsServer, startTestIdentityProvider, type NatsServer, type TestIdentityProvider } from "@natsflow/testing";
import { connect, type NatsConnection } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const enc = new TextEncoder();
const dec = new TextDecoder();

const TEMPLATE: Grant = {
  account: "APP",
  name: "{sub}",
  permissions: { pub: { allow: ["users.{sub}.>", "$SYS.REQ.USER.INFO"] }, sub: { allow: ["users.{sub}.>", "_INBOX.>"] } },
  expiresInSeconds: 3600,
};

@AuthCallout()
class TokenAuthorizer implements Authorizer {
  constructor(@inject(BearerTokenVerifier) private readonly tokens: BearerTokenVerifier) {}

  async authorize(req: AuthRequest): Promise<Grant> {
    return grantFromClaims(await this.tokens.verify(req.token), TEMPLATE);
  }
}

describe("bearer tokens (OIDC) against nats-server", () => {
  let idp: TestIdentityProvider;
  let server: NatsServer;
  let app: NatsApp;
  const logs = captureLogs();

  beforeAll(async () => {
    idp = await startTestIdentityProvider();
    const setup = configModeCallout({ xkey: true });
    server = await startNatsServer({ config: setup.serverConfig });
    app = await NatsApp.create({
      servers: server.url,
      ...setup.serviceUser,
      controllers: [TokenAuthorizer],
      providers: [
        { provide: BearerTokenVerifier, useValue: new BearerTokenVerifier({ issuer: idp.issuer, audience: idp.audience, jwksUrl: idp.jwksUrl, jwksCooldownMs: 1000 }) },
        authCalloutConfig(setup.callout),
      ],
      logger: logs.logger,
    });
    await app.start();
  });

  afterAll(async () => {
    await app?.stop();
    await server?.stop();
    await idp?.close();
  });

  const login = (token: string) => connect({ servers: server.url, token, reconnect: false, timeout: 5000 });
  const info = async (nc: NatsConnection) => {
    const reply = await nc.request("$SYS.REQ.USER.INFO", enc.encode(""), { timeout: 2000 });
    return (JSON.parse(dec.decode(reply.data)) as { data: { user: string; permissions: unknown; expires: number } }).data;
  };

  it("admits a valid token with permissions from its claims, expiring with the token", async () => {
    const nc = await login(await idp.sign({ sub: "alice" }, { exp: "90s" }));
    try {
      const me = await info(nc);
      expect(me.user).toBe("alice");
      expect(JSON.stringify(me.permissions)).toContain("users.alice.>");
      // USER.INFO reports the time left in nanoseconds: the token's 90 s, not the template's hour.
      expect(me.expires / 1e9).toBeLessThanOrEqual(90);
      expect(me.expires / 1e9).toBeGreaterThan(60);
    } finally {
      await nc.close();
    }
  });

  it("refuses expired, forged and foreign tokens with reasons the server logs; the next good client connects", async () => {
    const refused = async (token: string, reason: RegExp) => {
      await expect(login(token)).rejects.toThrow(/authorization violation/i);
      await server.waitForLog(reason);
    };
    await refused(await idp.sign({ sub: "bob" }, { exp: Math.floor(Date.now() / 1000) - 300 }), /returned an error: bearer token expired/);
    await refused(await idp.sign({ sub: "bob" }, { iss: "https://evil.test" }), /returned an error: bearer token rejected: iss/);
    const good = await idp.sign({ sub: "bob" });
    const [h, , s] = good.split(".");
    await refused(`${h}.${Buffer.from(JSON.stringify({ sub: "root", iss: idp.issuer, aud: idp.audience, exp: 9999999999 })).toString("base64url")}.${s}`, /bearer token signature invalid/);
    await refused(await idp.sign({ sub: "a.>" }), /returned an error: invalid grant: the value of \{sub\} cannot be used in a subject/);
    const nc = await login(await idp.sign({ sub: "bob" }));
    expect((await info(nc)).user).toBe("bob");
    await nc.close();
    expect(logs.lines.join("\n")).not.toContain(good);
  });

  it("refuses while the provider is down, then recovers", async () => {
    // A fresh key id forces a JWKS fetch.
    idp.state.mode = "down";
    await expect(login(await idp.sign({ sub: "carol" }, { kid: "k2" }))).rejects.toThrow(/authorization violation/i);
    await server.waitForLog(/returned an error: (identity provider keys unavailable|bearer token signed with an unknown key)/);
    idp.state.mode = "ok";
    const nc = await login(await idp.sign({ sub: "carol" }));
    expect((await info(nc)).user).toBe("carol");
    await nc.close();
  });
});
