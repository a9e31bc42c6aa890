// A burst of password logins through a real nats-server: hashed off the event loop, at most a few at
// once, and what cannot be verified before the deadline is answered "busy" — nothing times out, and
// token logins arriving meanwhile are all admitted.
import "reflect-metadata";

import {
  AuthCallout,
  authCalloutConfig,
  AuthError,
  configurePasswordHashing,
  hashPassword,
  verifyPassword,
  type Authorizer,
  type AuthRequest,
  type Grant,
} from "@natsflow/auth-callout";
import { injectable, NatsApp } from "@natsflow/core";
import { captureLogs, configModeCallout, registerSecret, startNatsServer, type CapturedLogs, type NatsServer } from "@natsflow/testing";
import { connect } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const PASSWORD = "burst-pw-9f3k";
const TOKEN = "burst-token-7q2m";
for (const s of [PASSWORD, TOKEN]) registerSecret(s);
const BURST = 50;
const TOKENS = 10;
const TIMEOUT_MS = 1500;
// The least time a request gets: the server's 2 s `exp` is cut to whole seconds, less the 200 ms margin.
const LEAST_BUDGET_MS = 800;

@injectable()
class Users {
  hash = "";
}

@AuthCallout()
class BurstAuthorizer implements Authorizer {
  constructor(private readonly users: Users) {}

  async authorize(req: AuthRequest): Promise<Grant> {
    if (req.token === TOKEN) return { account: "APP", permissions: "all" };
    if (req.username?.startsWith("user") && (await verifyPassword(this.users.hash, req.password, { deadline: req.deadline }))) return { account: "APP", permissions: "all" };
    throw new AuthError("invalid credentials");
  }
}

interface BurstOutcome {
  admitted: number;
  busy: number;
  timedOut: number;
  other: number;
  clientsIn: number;
  tokensIn: number;
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("a burst of password logins", () => {
  let server: NatsServer;
  let app: NatsApp;
  let logs: CapturedLogs;
  const users = new Users();

  beforeAll(async () => {
    const setup = configModeCallout({ xkey: true });
    server = await startNatsServer({ config: setup.serverConfig });
    logs = captureLogs("info");
    app = await NatsApp.create({
      servers: server.url,
      ...setup.serviceUser,
      controllers: [BurstAuthorizer],
      providers: [{ provide: Users, useValue: users }, authCalloutConfig({ ...setup.callout, timeoutMs: TIMEOUT_MS })],
      logger: logs.logger,
    });
    await app.start();
  });

  afterAll(async () => {
    await app?.stop();
    await server?.stop();
  });

  const tryConnect = async (opts: { user?: string; pass?: string; token?: string }) => {
    try {
      await (await connect({ servers: server.url, reconnect: false, timeout: 5000, ...opts })).close();
      return true;
    } catch {
      return false;
    }
  };

  /** 50 password logins at once, token logins starting while they are under way; decisions read from the service's log. */
  async function burst(): Promise<BurstOutcome> {
    const before = logs.lines.length;
    const passwords = Array.from({ length: BURST }, (_, i) => tryConnect({ user: `user${i}`, pass: PASSWORD }));
    const tokens = Array.from({ length: TOKENS }, async (_, i) => {
      await delay(20 + 30 * i);
      return tryConnect({ token: TOKEN });
    });
    const clientsIn = (await Promise.all(passwords)).filter(Boolean).length;
    const tokensIn = (await Promise.all(tokens)).filter(Boolean).length;
    const decisions = logs.lines.slice(before).map((l) => JSON.parse(l) as { user?: string; reasonKind?: string; msg: string });
    const ofPasswords = decisions.filter((d) => d.user?.startsWith("user"));
    const count = (kind: string) => ofPasswords.filter((d) => d.reasonKind === kind).length;
    return { admitted: count("granted"), busy: count("busy"), timedOut: count("timeout"), other: ofPasswords.length - count("granted") - count("busy") - count("timeout"), clientsIn, tokensIn };
  }

  /** Verification throughput now, in ms per verification with a few at once (before a burst, this also seeds the queue's estimate). */
  async function msPerVerification(): Promise<number> {
    const t0 = performance.now();
    const ok = await Promise.all(Array.from({ length: 6 }, () => verifyPassword(users.hash, PASSWORD)));
    expect(ok).toEqual(Array(6).fill(true));
    return (performance.now() - t0) / 6;
  }

  function expectNoneStarved(o: BurstOutcome): void {
    // The strict checks: nothing timed out, at the service or at the server, and every token got in.
    expect(o.timedOut).toBe(0);
    expect(server.log).not.toMatch(/response not received in time/i);
    expect(o.tokensIn).toBe(TOKENS);
    expect(o.other).toBe(0);
    expect(o.admitted + o.busy).toBe(BURST);
    expect(o.clientsIn).toBe(o.admitted);
    expect(o.admitted).toBeGreaterThan(0);
  }

  it("argon2id, default parameters and concurrency: admits up to capacity, the rest busy, none timed out", async () => {
    users.hash = await hashPassword(PASSWORD, "argon2id");
    const before = await msPerVerification();
    const o = await burst();
    const ms = Math.max(before, await msPerVerification());
    expectNoneStarved(o);
    // Capacity is budget ÷ (ms per verification); loose, as clients, server and other processes share the cores.
    expect(o.admitted).toBeGreaterThanOrEqual(Math.floor(0.3 * Math.min(BURST, LEAST_BUDGET_MS / ms)));
  });

  it("bcrypt, one hash at a time: more than fits is refused busy in time, and nothing starves", async () => {
    configurePasswordHashing({ concurrency: 1 });
    users.hash = await hashPassword(PASSWORD, "bcrypt");
    const before = await msPerVerification();
    const o = await burst();
    const ms = Math.max(before, await msPerVerification());
    expectNoneStarved(o);
    expect(o.admitted).toBeGreaterThanOrEqual(Math.floor(0.3 * Math.min(BURST, LEAST_BUDGET_MS / ms)));
    if (o.busy > 0) await server.waitForLog(/returned an error: service busy/i);
  });
});
