/**
 * Connection settings from the conventional variables (NATS_URL, NATS_USER/NATS_PASSWORD,
 * NATS_TOKEN, NATS_CREDS, NATS_NKEY_SEED/NATS_NKEY, NATS_CA/NATS_CERT/NATS_KEY): read when the
 * options leave them out, explicit options winning, mistakes named by variable — against a real
 * nats-server that wants a password or an nkey.
 */
import "reflect-metadata";

import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { ConnectionError, NatsApp, type ConnectionOptions } from "@natsflow/core";
import { captureLogs, startNatsServer, TestBroker, type NatsServer } from "@natsflow/testing";
import { createUser } from "nkeys.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const nkeyUser = createUser();
const SEED = new TextDecoder().decode(nkeyUser.getSeed());
const PASSWORD = "env-pass-5f3a";
let server: NatsServer;
let dir: string;

beforeAll(async () => {
  server = await startNatsServer({
    config: { authorization: { users: [{ user: "svc", password: PASSWORD }, { nkey: nkeyUser.getPublicKey() }] } },
  });
  dir = await mkdtemp(join(tmpdir(), "natsflow-env-"));
});
afterAll(async () => {
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

const quiet = () => captureLogs().logger;

/** Starts an app made from `env` alone (no connection options), and says whether it connected. */
async function connectsWith(env: Record<string, string>): Promise<true> {
  const app = await NatsApp.create({ env, logger: quiet() });
  await app.start();
  await app.stop();
  return true;
}

/** The connection options an app would connect with, caught by a transport that never connects. */
async function connectionOf(options: Parameters<typeof NatsApp.create>[0]): Promise<ConnectionOptions> {
  let seen: ConnectionOptions | undefined;
  const broker = new TestBroker();
  const app = await NatsApp.create({ ...options, logger: quiet(), transport: async (o) => ((seen = o), broker.transport(o)) });
  await app.start();
  await app.stop();
  return seen as ConnectionOptions;
}

describe("connection settings from the environment", () => {
  it("NATS_URL with NATS_USER/NATS_PASSWORD, and NATS_URL with NATS_NKEY_SEED, log in to a real server", async () => {
    expect(await connectsWith({ NATS_URL: server.url, NATS_USER: "svc", NATS_PASSWORD: PASSWORD })).toBe(true);
    expect(await connectsWith({ NATS_URL: server.url, NATS_NKEY_SEED: SEED })).toBe(true);
    const seedFile = join(dir, "user.nk");
    await writeFile(seedFile, `${SEED}\n`);
    expect(await connectsWith({ NATS_URL: server.url, NATS_NKEY: seedFile })).toBe(true);
  });

  it("explicit options win over the variables", async () => {
    const seen = await connectionOf({ servers: "nats://a:4222", user: "code", pass: "p", env: { NATS_URL: "nats://b:4222", NATS_TOKEN: "t", NATS_CA: "/nonexistent" }, tls: { caFile: "/etc/ssl/ca.pem" } });
    expect(seen).toMatchObject({ servers: "nats://a:4222", user: "code", pass: "p", tls: { caFile: "/etc/ssl/ca.pem" } });
    expect(seen.token).toBeUndefined();
    expect(seen.from).toBeUndefined();
  });

  it("NATS_URL takes a comma-separated list; NATS_CREDS is read from its file; TLS files are passed as paths", async () => {
    const creds = join(dir, "app.creds");
    await writeFile(creds, "-----BEGIN NATS USER JWT-----\neyJ0\n------END NATS USER JWT------\n");
    const ca = join(dir, "ca.pem");
    await writeFile(ca, "-----BEGIN CERTIFICATE-----\n");
    const seen = await connectionOf({ env: { NATS_URL: "nats://a:1, nats://b:2", NATS_CREDS: creds, NATS_CA: ca } });
    expect(seen).toMatchObject({ servers: ["nats://a:1", "nats://b:2"], creds: expect.stringContaining("BEGIN NATS USER JWT"), tls: { caFile: ca } });
    expect(seen.from).toEqual({ servers: "NATS_URL", credentials: "NATS_CREDS", tls: "NATS_CA" });
  });

  it("env: false reads none; without a variable the default server is local", async () => {
    expect(await connectionOf({ env: false })).toEqual({ servers: "nats://127.0.0.1:4222" });
    expect((await connectionOf({ env: { NATS_URL: "nats://elsewhere:4222" } })).servers).toEqual(["nats://elsewhere:4222"]);
  });

  it("a server that cannot be reached is named with the variable it came from", async () => {
    const app = await NatsApp.create({ env: { NATS_URL: "nats://127.0.0.1:1" }, logger: quiet(), connectTimeoutMs: 2_000 });
    const failed = await app.start().then(() => undefined, (e: unknown) => e);
    expect(failed).toBeInstanceOf(ConnectionError);
    expect((failed as Error).message).toMatch(/^cannot connect to NATS at nats:\/\/127\.0\.0\.1:1 \(NATS_URL\): /);
  });

  it.each([
    [{ NATS_PASSWORD: "pw-secret-1" }, /^NATS_PASSWORD: is set without NATS_USER\./],
    [{ NATS_USER: "u", NATS_PASSWORD: "pw-secret-5", NATS_TOKEN: "tok-secret-2" }, /^NATS_USER: is set, and so is NATS_TOKEN: which one logs in\?/],
    [{ NATS_USER: "u" }, /^NATS_PASSWORD: is missing: NATS_USER logs in with a password\./],
    [{ NATS_CREDS: "/nonexistent/app.creds" }, /^NATS_CREDS: cannot read \/nonexistent\/app\.creds \(ENOENT\)\. Fix: point it at a \.creds file/],
    [{ NATS_NKEY_SEED: "SUNOTASEED-secret-3" }, /^NATS_NKEY_SEED: is not a user nkey seed/],
    [{ NATS_CERT: "/nonexistent/cert.pem" }, /^NATS_CERT: \/nonexistent\/cert\.pem does not exist\./],
    [{ NATS_URL: "nats://a:1,,nats://b:2" }, /^NATS_URL: must be a URL/],
    [{ NATS_URL: "nats://u:p@a:1", NATS_TOKEN: "tok-secret-4" }, /^NATS_TOKEN: is set, but NATS_URL carries credentials in its URL too\./],
  ])("%j fails at create, naming the variable and never echoing a secret", async (env, message) => {
    const failed = await NatsApp.create({ env, logger: quiet() }).then(() => undefined, (e: unknown) => e as Error);
    expect(failed?.name).toBe("SetupError");
    expect(failed?.message).toMatch(message);
    expect(failed?.message).not.toMatch(/-secret-/);
  });

  it("every connection option of the client is checked by name", async () => {
    await expect(NatsApp.create({ env: false, pingIntervalMs: -1 })).rejects.toThrow(/^pingIntervalMs: must be a number of milliseconds ≥ 0\./);
    await expect(NatsApp.create({ env: false, noEcho: "yes" as unknown as boolean })).rejects.toThrow(/^noEcho: must be true or false\./);
    await expect(NatsApp.create({ env: false, inboxPrefix: "_INBOX.*" })).rejects.toThrow(/^inboxPrefix: must be a subject without wildcards/);
    await expect(NatsApp.create({ env: false, user: "u", nkeySeed: SEED })).rejects.toThrow(/^nkeySeed: cannot be combined with user\./);
    const seen = await connectionOf({ env: false, noEcho: true, inboxPrefix: "_INBOX_svc", pingIntervalMs: 5_000, maxPingOut: 3, reconnectJitterMs: 10, tls: { handshakeFirst: true } });
    expect(seen).toMatchObject({ noEcho: true, inboxPrefix: "_INBOX_svc", pingIntervalMs: 5_000, maxPingOut: 3, reconnectJitterMs: 10, tls: { handshakeFirst: true } });
  });

  it("inboxPrefix and noEcho reach the server: a request's reply comes back under the prefix", async () => {
    const app = await NatsApp.create({ servers: server.url, user: "svc", pass: PASSWORD, inboxPrefix: "_INBOX_svc", noEcho: true, env: false, logger: quiet() });
    await app.start();
    try {
      const responder = await NatsApp.create({ servers: server.url, user: "svc", pass: PASSWORD, env: false, logger: quiet() });
      let replyTo = "";
      await responder.subscribe("env.echo", { codec: "string" }, (_p, ctx) => {
        replyTo = ctx.message.reply ?? "";
        return "ok";
      });
      await responder.start();
      try {
        expect(await app.broker.request("env.echo", "hi", { replyCodec: "string" })).toBe("ok");
        expect(replyTo.startsWith("_INBOX_svc.")).toBe(true);
      } finally {
        await responder.stop();
      }
    } finally {
      await app.stop();
    }
  });
});
