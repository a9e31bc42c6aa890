import "reflect-metadata";

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

import { captureLogs, configModeCallout, registerSecret, spawnTracked, startNatsServer, type ConfigModeCallout, type NatsServer } from "@natsflow/testing";
import { connect } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

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

describe("users.json", () => {
  it("is refused at start-up when a user's permissions are not what the callout accepts, naming the user and the key", () => {
    const dir = mkdtempSync(join(tmpdir(), "natsflow-users-file-"));
    try {
      const file = join(dir, "users.json");
      writeFileSync(file, JSON.stringify({ eve: { pass: "x", account: "APP", permissions: { publish: { allow: [">"] }, sub: { allow: ["_INBOX.>"] } } } }));
      expect(() => UserRepository.fromFile(file)).toThrow(/^USERS_FILE: user "eve" in .*: invalid grant: permissions\.publish: unknown key; did you mean "pub"\?/);
      writeFileSync(file, JSON.stringify({ eve: { pass: "x", account: "APP" } }));
      expect(() => UserRepository.fromFile(file)).toThrow(/^USERS_FILE: user "eve" in .*: invalid grant: permissions: missing/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

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
    const users = new UserRepository({ carol: { pass: "c4rol-secret", account: "APP", permissions: "all" } });
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

  const launch = (url: string, callout: ConfigModeCallout = setup) =>
    spawnTracked(process.execPath, [MAIN], {
      label: "users-file main.js",
      env: {
        ...process.env,
        NATS_URL: url,
        NATS_USER: callout.serviceUser.user,
        NATS_PASSWORD: callout.serviceUser.pass,
        NATS_CALLOUT_ISSUER_SEED: callout.issuer.seed,
        NATS_CALLOUT_XKEY_SEED: callout.xkey?.seed,
        LOG_LEVEL: "info",
      },
    });

  it("runs as a process from the environment contract (npm start -w examples/users-file)", async () => {
    const service = launch(server.url);
    try {
      await service.waitForOutput(/natsflow app started/);
      const nc = await connect({ servers: server.url, user: "alice", pass: "alice", reconnect: false });
      expect((await whoAmI(nc)).account).toBe("APP");
      await nc.close();
    } finally {
      void service.stop();
    }
    // SIGTERM is a graceful stop: drain, close, exit 0.
    expect((await service.exited).code).toBe(0);
    expect(service.output).toMatch(/natsflow app stopped/);
    expect(service.output).not.toContain(setup.issuer.seed);
    expect(service.output).not.toContain(setup.serviceUser.pass);
  });

  it("exits 0 within shutdownTimeoutMs when it and its server are stopped at the same moment (docker compose down), 20 times of 20", async () => {
    const shutdownTimeoutMs = 10_000; // NatsApp's default
    const once = async () => {
      const callout = configModeCallout();
      const own = await startNatsServer({ config: callout.serverConfig });
      const service = launch(own.url, callout);
      try {
        // Four start at once: on a loaded machine that takes more than the default 10 s.
        await service.waitForOutput(/natsflow app started/, 30_000);
      } finally {
        // Both at once: the service's drain meets a server that is going away.
        void service.stop();
        await own.stop();
      }
      return service.exited;
    };
    const exits = [];
    for (let batch = 0; batch < 5; batch++) exits.push(...(await Promise.all(Array.from({ length: 4 }, once))));
    expect(exits.map((e) => e.code)).toEqual(Array(20).fill(0));
    for (const e of exits) expect(e.stopMs).toBeLessThan(shutdownTimeoutMs);
  }, 120_000);

  it("exits with a message naming the variable when configuration is wrong", async () => {
    const run = async (env: Record<string, string>) => {
      const p = spawnTracked(process.execPath, [MAIN], { label: "users-file main.js (bad config)", env: { PATH: process.env.PATH ?? "", ...env } });
      return { code: (await p.exited).code, stderr: p.output };
    };
    const missing = await run({ NATS_URL: server.url });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/configuration error: NATS_CALLOUT_ISSUER_SEED: is required/);
    const wrongKind = await run({ NATS_URL: server.url, NATS_CALLOUT_ISSUER_SEED: setup.xkey!.seed });
    expect(wrongKind.stderr).toMatch(/NATS_CALLOUT_ISSUER_SEED: expected an account seed/);
    expect(wrongKind.stderr).not.toContain(setup.xkey!.seed);
    const badXkey = await run({ NATS_URL: server.url, NATS_CALLOUT_ISSUER_SEED: setup.issuer.seed, NATS_CALLOUT_XKEY_SEED: "SXbogus" });
    expect(badXkey.stderr).toMatch(/configuration error: NATS_CALLOUT_XKEY_SEED: malformed seed/);
    const noPassword = await run({ NATS_URL: server.url, NATS_CALLOUT_ISSUER_SEED: setup.issuer.seed, NATS_USER: "u" });
    expect(noPassword.stderr).toMatch(/configuration error: NATS_PASSWORD: is missing/);
    expect([badXkey.code, noPassword.code]).toEqual([1, 1]);
  });
});
