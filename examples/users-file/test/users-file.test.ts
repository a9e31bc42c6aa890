import "reflect-metadata";

import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

import { captureLogs, configModeCallout, registerLogSink, registerSecret, startNatsServer, type ConfigModeCallout, type NatsServer } from "@natsflow/testing";
import { connect } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { optionsFromEnv } from "../src/env.js";
import { startLocalStack, type LocalStack } from "../src/local-stack.js";
import { createUsersFileService } from "../src/service.js";
import { UserRepository } from "../src/users.js";
import { runWalkthrough, whoAmI } from "../src/walkthrough.js";

const MAIN = fileURLToPath(new URL("../dist/main.js", import.meta.url));

for (const xkey of [true, false]) {
  describe(`users-file example: the five demo steps (xkey ${xkey ? "on" : "off"})`, () => {
    let stack: LocalStack;

    beforeAll(async () => {
      stack = await startLocalStack({ xkey, logger: captureLogs().logger });
    });
    afterAll(() => stack?.stop());

    it("alice publishes, bob is confined to bob.>, strangers are refused, sys reaches the system account", async () => {
      const results = await runWalkthrough(stack.server.url);
      expect(results.map((r) => [r.step, r.ok, r.ok ? "" : r.detail])).toEqual([
        ["alice publishes on test", true, ""],
        ["bob publishes on test", true, ""],
        ["bob publishes on bob.test", true, ""],
        ["an unknown user connects", true, ""],
        ["sys pings the servers", true, ""],
      ]);
      expect(results[1]?.detail).toMatch(/PERMISSIONS_VIOLATION/);
      expect(results[3]?.detail).toMatch(/authorization violation/i);
    });

    it("the server saw the denial reason for the unknown user", async () => {
      await stack.server.waitForLog(/auth callout service returned an error: invalid credentials/i);
    });
  });
}

describe("users-file example: repository injected by constructor type", () => {
  let setup: ConfigModeCallout;
  let server: NatsServer;

  beforeAll(async () => {
    setup = configModeCallout({ xkey: true });
    server = await startNatsServer({ config: setup.serverConfig });
  });
  afterAll(() => server?.stop());

  it("uses the UserRepository instance the app was given", async () => {
    registerSecret("c4rol-secret");
    const users = new UserRepository({ carol: { pass: "c4rol-secret", account: "APP" } });
    const app = await createUsersFileService({
      connection: { servers: server.url, ...setup.serviceUser },
      callout: setup.callout,
      users,
      logger: captureLogs().logger,
    });
    await app.start();
    try {
      const nc = await connect({ servers: server.url, user: "carol", pass: "c4rol-secret", reconnect: false });
      expect((await whoAmI(nc)).account).toBe("APP");
      await nc.close();
      // alice is in users.json but not in this repository.
      await expect(connect({ servers: server.url, user: "alice", pass: "alice", reconnect: false })).rejects.toThrow(/authorization violation/i);
    } finally {
      await app.stop();
    }
  });

  it("runs as a process from the environment contract (npm start -w examples/users-file)", async () => {
    const child = spawn(process.execPath, [MAIN], {
      env: {
        ...process.env,
        NATS_URL: server.url,
        NATS_USER: setup.serviceUser.user,
        NATS_PASSWORD: setup.serviceUser.pass,
        NATS_CALLOUT_ISSUER_SEED: setup.issuer.seed,
        NATS_CALLOUT_XKEY_SEED: setup.xkey?.seed,
        LOG_LEVEL: "info",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    registerLogSink("users-file main.js", () => output);
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((r) => child.once("exit", r));
    try {
      await expect.poll(() => output, { timeout: 10_000 }).toMatch(/natsflow app started/);
      const nc = await connect({ servers: server.url, user: "alice", pass: "alice", reconnect: false });
      expect((await whoAmI(nc)).account).toBe("APP");
      await nc.close();
    } finally {
      child.kill("SIGTERM");
    }
    // SIGTERM is a graceful stop: drain, close, exit 0.
    expect(await exited).toBe(0);
    expect(output).toMatch(/natsflow app stopped/);
    expect(output).not.toContain(setup.issuer.seed);
    expect(output).not.toContain(setup.serviceUser.pass);
  });

  it("exits with a message naming the variable when configuration is wrong", async () => {
    const run = (env: Record<string, string>) =>
      new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [MAIN], { env: { PATH: process.env.PATH ?? "", ...env }, stdio: ["ignore", "ignore", "pipe"] });
        let stderr = "";
        child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
        child.once("exit", (code) => resolve({ code, stderr }));
      });
    const missing = await run({ NATS_URL: server.url });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/configuration error: NATS_CALLOUT_ISSUER_SEED: is not set/);
    const wrongKind = await run({ NATS_URL: server.url, NATS_CALLOUT_ISSUER_SEED: setup.xkey!.seed });
    expect(wrongKind.stderr).toMatch(/NATS_CALLOUT_ISSUER_SEED: expected an account seed/);
    expect(wrongKind.stderr).not.toContain(setup.xkey!.seed);
  });

  it("maps option errors to the environment variables in-process too", () => {
    expect(() => optionsFromEnv({ NATS_CALLOUT_ISSUER_SEED: setup.issuer.seed, NATS_CALLOUT_XKEY_SEED: "SXbogus" })).toThrow(/^NATS_CALLOUT_XKEY_SEED: malformed seed/);
    expect(() => optionsFromEnv({ NATS_CALLOUT_ISSUER_SEED: setup.issuer.seed, NATS_USER: "u" })).toThrow(/^NATS_PASSWORD: is missing/);
  });
});
