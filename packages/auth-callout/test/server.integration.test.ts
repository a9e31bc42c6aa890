// The callout against a real nats-server and real clients, in config mode, with and without xkey.
import "reflect-metadata";

import { AuthCallout, authCalloutConfig, AuthError, type AuthCalloutOptions, type Authorizer, type AuthRequest, type Grant } from "@natsflow/auth-callout";
import { injectable, NatsApp, type NatsAppOptions } from "@natsflow/core";
import { captureLogs, configModeCallout, operatorModeCallout, registerSecret, startNatsServer, type NatsServer } from "@natsflow/testing";
import { connect, credsAuthenticator, type NatsConnection } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const enc = new TextEncoder();
registerSecret("alice-pw");
const dec = new TextDecoder();

/** Counts concurrent calls and lets a test wait until several are inside at once. */
@injectable()
class Gate {
  inside = 0;
  peak = 0;
  served = 0;
}

@AuthCallout()
class BehaviourAuthorizer implements Authorizer {
  constructor(private readonly gate: Gate) {}

  async authorize(req: AuthRequest): Promise<Grant> {
    this.gate.served++;
    switch (req.username) {
      case "alice":
        if (req.password !== "alice-pw") throw new AuthError("invalid credentials");
        return { account: "APP", permissions: { pub: { allow: ["alice.>", "$SYS.REQ.USER.INFO"] }, sub: { allow: ["alice.>", "_INBOX.>"] } } };
      case "crash":
        throw new Error("pg: connection to 10.9.8.7:5432 refused, password=hunter2");
      case "slow":
        await new Promise((r) => setTimeout(r, 5000));
        return { account: "APP", permissions: "all" };
      case "limited":
        return {
          account: "APP",
          name: "limited-user",
          permissions: { pub: { allow: ["$SYS.REQ.USER.INFO"], deny: ["secret.>"] }, sub: { allow: ["_INBOX.>"] }, resp: { max: 1, ttl: 1_000_000_000 } },
          limits: { subs: 10, data: 1_000_000, payload: 4096, src: ["127.0.0.0/8"], times: [{ start: "00:00:00", end: "23:59:59" }], locale: "UTC" },
          allowedConnectionTypes: ["STANDARD"],
          tags: ["tier:test"],
          expiresInSeconds: 600,
        };
      case "scoped":
        // Operator mode only: the scoped key's template decides the permissions.
        return { account: "APP_SCOPED" };
      case "nowhere":
        return { account: "NO_SUCH_ACCOUNT" };
      case "brief":
        return { account: "APP", permissions: "all", expiresInSeconds: 2 };
      case "stale":
        // E.g. bounded by an identity token that expired a moment ago.
        return { account: "APP", permissions: "all", expiresAt: new Date(Date.now() - 1000) };
      case "crowd": {
        this.gate.inside++;
        this.gate.peak = Math.max(this.gate.peak, this.gate.inside);
        // Admit only once five requests are being authorized at the same time: a serial service never gets there.
        const until = Date.now() + 1200;
        while (this.gate.peak < 5 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
        this.gate.inside--;
        if (this.gate.peak < 5) throw new AuthError("requests were not handled concurrently");
        return { account: "APP", permissions: "all" };
      }
      default:
        throw new AuthError("unknown user");
    }
  }
}

async function whoAmI(nc: NatsConnection): Promise<{ user: string; account: string; permissions?: unknown; expires?: string }> {
  const reply = await nc.request("$SYS.REQ.USER.INFO", enc.encode(""), { timeout: 2000 });
  return (JSON.parse(dec.decode(reply.data)) as { data: { user: string; account: string } }).data;
}

/** A server set up for the callout in one mode, and how the service and clients log in to it. */
interface Deployment {
  serverConfig: Record<string, unknown>;
  service: Partial<NatsAppOptions>;
  callout: AuthCalloutOptions;
  /** Operator mode: the sentinel creds every client presents besides its user/password. */
  sentinel?: string;
}

async function deployment(mode: "config" | "operator", xkey: boolean): Promise<Deployment> {
  if (mode === "config") {
    const setup = configModeCallout({ xkey });
    return {
      serverConfig: setup.serverConfig,
      service: setup.serviceUser,
      callout: setup.callout,
    };
  }
  const op = await operatorModeCallout({
    xkey,
    scopedTemplate: { pub: { allow: ["scoped.>", "$SYS.REQ.USER.INFO"] }, sub: { allow: ["scoped.>", "_INBOX.>"] } },
  });
  const app = op.accounts.APP!;
  return {
    serverConfig: op.serverConfig,
    service: { creds: op.serviceCreds },
    callout: {
      // Without xkey the server checks who signed the response: sign with a callout-account signing key.
      issuerSeed: xkey ? op.callout.account.seed : op.callout.signingKey.seed,
      xkeySeed: op.xkey?.seed,
      operator: {
        calloutAccount: op.callout.account.publicKey,
        accounts: {
          APP: { publicKey: app.account.publicKey, signingKeySeed: app.signingKey.seed },
          APP_SCOPED: { publicKey: app.account.publicKey, signingKeySeed: app.scopedKey.seed, scoped: true },
        },
      },
    },
    sentinel: op.sentinelCreds,
  };
}

let sentinel: string | undefined;

function login(server: NatsServer, user: string, pass: string): Promise<NatsConnection> {
  return connect({
    servers: server.url,
    user,
    pass,
    reconnect: false,
    timeout: 5000,
    ...(sentinel ? { authenticator: credsAuthenticator(new TextEncoder().encode(sentinel)) } : {}),
  });
}

const modes = [
  ["config", true],
  ["config", false],
  ["operator", true],
  ["operator", false],
] as const;

for (const [mode, xkey] of modes) {
  describe(`@AuthCallout() against nats-server (${mode} mode, xkey ${xkey ? "on" : "off"})`, () => {
    let server: NatsServer;
    let app: NatsApp;
    const gate = new Gate();
    const logs = captureLogs();

    let d: Deployment;
    const appAccount = () => (mode === "config" ? "APP" : (d.callout.operator?.accounts.APP?.publicKey as string));

    beforeAll(async () => {
      d = await deployment(mode, xkey);
      sentinel = d.sentinel;
      server = await startNatsServer({ config: d.serverConfig });
      app = await NatsApp.create({
        servers: server.url,
        ...d.service,
        controllers: [BehaviourAuthorizer],
        providers: [{ provide: Gate, useValue: gate }, authCalloutConfig(d.callout)],
        logger: logs.logger,
      });
      await app.start();
    });

    afterAll(async () => {
      await app?.stop();
      await server?.stop();
    });

    it("admits a valid client into the granted account with the granted permissions", async () => {
      const nc = await login(server, "alice", "alice-pw");
      try {
        const me = await whoAmI(nc);
        expect(me.account).toBe(appAccount());
        expect(me.user).toBe("alice");
        expect(JSON.stringify(me.permissions)).toContain("alice.>");
      } finally {
        await nc.close();
      }
    });

    it("accepts a grant that uses every field: limits, time windows, connection types, tags, expiry", async () => {
      const nc = await login(server, "limited", "x");
      try {
        const me = await whoAmI(nc);
        expect(me.user).toBe("limited-user");
        expect(me.account).toBe(appAccount());
        expect(JSON.stringify(me.permissions)).toContain("secret.>");
        expect(Number(me.expires)).toBeGreaterThan(0);
      } finally {
        await nc.close();
      }
    });

    if (mode === "operator") {
      it("places users signed with a scoped key under the key's template", async () => {
        const nc = await login(server, "scoped", "x");
        try {
          const me = await whoAmI(nc);
          expect(me.account).toBe(appAccount());
          // The grant carried no permissions: these come from the scoped key's template.
          expect(JSON.stringify(me.permissions)).toContain("scoped.>");
          expect(JSON.stringify(me.permissions)).not.toContain("alice.>");
        } finally {
          await nc.close();
        }
      });

      it("refuses a grant to an account it has no key for, and says why in its log", async () => {
        await expect(login(server, "nowhere", "x")).rejects.toThrow(/authorization violation/i);
        const why = /^invalid grant: no signing key configured for account "NO_SUCH_ACCOUNT" \(configured: APP, APP_SCOPED\)$/;
        expect(logs.find(/denied/).find((e) => e.user === "nowhere")).toMatchObject({ reasonKind: "invalid_grant", reason: expect.stringMatching(why) });
        await server.waitForLog(/returned an error: invalid grant: no signing key configured for account "NO_SUCH_ACCOUNT"/);
      });
    }

    it("rejects with the AuthError's reason, which the server logs", async () => {
      await expect(login(server, "alice", "nope")).rejects.toThrow(/authorization violation/i);
      // The exact line docs/auth-callout.md quotes.
      expect(await server.waitForLog(/\[WRN\] Auth callout service returned an error: invalid credentials$/)).toBeTruthy();
    });

    it("rejects an unexpected exception without internal detail reaching the server", async () => {
      await expect(login(server, "crash", "x")).rejects.toThrow(/authorization violation/i);
      await server.waitForLog(/returned an error: internal authorization error/i);
      expect(server.log).not.toMatch(/10\.9\.8\.7|hunter2|pg:/);
      const denial = logs.find(/denied/).find((e) => e.user === "crash") as { err?: { stack?: string } } | undefined;
      expect(denial?.err?.stack).toContain("pg: connection to 10.9.8.7");
    });

    it("refuses a grant that expired before it was issued, saying so in the server's log and the decision log", async () => {
      await expect(login(server, "stale", "x")).rejects.toThrow(/authorization violation/i);
      await server.waitForLog(/returned an error: grant expired before it was issued/i);
      expect(logs.find(/denied/).find((e) => e.user === "stale")).toMatchObject({ reasonKind: "expired_grant", reason: "grant expired before it was issued" });
    });

    it("rejects an authorizer slower than the deadline before the server gives up", async () => {
      const started = Date.now();
      await expect(login(server, "slow", "x")).rejects.toThrow(/authorization violation/i);
      // The server's own log is the strict check (no "not received in time"); this bound allows for a busy machine.
      expect(Date.now() - started).toBeLessThan(2500);
      await server.waitForLog(/returned an error: authorization timed out/i);
      expect(server.log).not.toMatch(/response not received in time/i);
    });

    it("disconnects a client when its short-lived grant expires", async () => {
      const nc = await login(server, "brief", "x");
      expect((await whoAmI(nc)).account).toBe(appAccount());
      const closed = await Promise.race([nc.closed().then(() => "closed"), new Promise((r) => setTimeout(() => r("still open"), 6000))]);
      expect(closed).toBe("closed");
      expect(nc.isClosed()).toBe(true);
    });

    it("authorizes concurrent connects concurrently", async () => {
      gate.peak = 0;
      const clients = await Promise.all(Array.from({ length: 5 }, () => login(server, "crowd", "x")));
      expect(gate.peak).toBeGreaterThanOrEqual(5);
      await Promise.all(clients.map((c) => c.close()));
    });

    it("never logs the passwords it saw", () => {
      const all = logs.lines.join("\n");
      expect(all).not.toContain("alice-pw");
      expect(all).not.toContain('"pass"');
    });
  });
}

describe("two service instances in one queue group", () => {
  let server: NatsServer;
  const apps: NatsApp[] = [];
  const gates = [new Gate(), new Gate()];

  beforeAll(async () => {
    const setup = configModeCallout({ xkey: true });
    server = await startNatsServer({ config: setup.serverConfig });
    for (const gate of gates) {
      const app = await NatsApp.create({
        servers: server.url,
        ...setup.serviceUser,
        controllers: [BehaviourAuthorizer],
        providers: [{ provide: Gate, useValue: gate }, authCalloutConfig(setup.callout)],
        logger: captureLogs().logger,
      });
      await app.start();
      apps.push(app);
    }
  });

  afterAll(async () => {
    await Promise.all(apps.map((a) => a.stop()));
    await server?.stop();
  });

  it("both serve, and each request is answered exactly once", async () => {
    for (let i = 0; i < 24; i++) {
      const nc = await login(server, "alice", "alice-pw");
      await nc.close();
    }
    const [a, b] = gates as [Gate, Gate];
    expect(a.served + b.served).toBe(24);
    expect(a.served).toBeGreaterThan(0);
    expect(b.served).toBeGreaterThan(0);
  });
});
