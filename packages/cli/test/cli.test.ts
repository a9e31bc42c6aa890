import "reflect-metadata";

import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

import { AuthCallout, authCalloutConfig, type Authorizer, type Grant } from "@natsflow/auth-callout";
import { NatsApp } from "@natsflow/core";
import { captureLogs, spawnTracked, startNatsServer } from "@natsflow/testing";
import { connect, credsAuthenticator } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const CLI = fileURLToPath(new URL("../dist/main.js", import.meta.url));
const USERS_FILE_MAIN = fileURLToPath(new URL("../../../examples/users-file/dist/main.js", import.meta.url));

async function serverFrom(dir: string) {
  const config = JSON.parse(await readFile(join(dir, "nats-server.conf"), "utf8")) as Record<string, unknown>;
  // The generated file listens on 4222; tests take a free port instead.
  delete config.port;
  delete config.host;
  return startNatsServer({ config });
}

function envFile(text: string): Record<string, string> {
  return Object.fromEntries(text.trim().split("\n").map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
}

describe("natsflow CLI", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "natsflow-cli-"));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("keys: prints a fresh seed and public key", async () => {
    const { stdout } = await run(process.execPath, [CLI, "keys"]);
    expect(stdout).toMatch(/^seed: +SA[A-Z2-7]{56}\npublic key: A[A-Z2-7]{55}\n$/);
    expect((await run(process.execPath, [CLI, "keys", "--curve"])).stdout).toMatch(/public key: X/);
  });

  it("refuses bad usage with exit code 2", async () => {
    await expect(run(process.execPath, [CLI, "nope"])).rejects.toMatchObject({ code: 2, stderr: expect.stringMatching(/unknown command "nope"/) });
    await expect(run(process.execPath, [CLI, "init", join(dir, "x"), "--mode", "fancy"])).rejects.toMatchObject({ code: 2 });
  });

  it("init (config mode): the generated server and env run the users-file service", async () => {
    const out = join(dir, "config");
    const { stdout } = await run(process.execPath, [CLI, "init", out]);
    expect(stdout).toMatch(/nats-server -c/);
    expect((await stat(join(out, "callout.env"))).mode & 0o777).toBe(0o600);
    const server = await serverFrom(out);
    const env = envFile(await readFile(join(out, "callout.env"), "utf8"));
    const service = spawnTracked(process.execPath, [USERS_FILE_MAIN], { label: "users-file from init", env: { ...process.env, ...env, NATS_URL: server.url } });
    try {
      await service.waitForOutput(/natsflow app started/);
      const nc = await connect({ servers: server.url, user: "alice", pass: "alice", reconnect: false });
      await nc.close();
      await expect(connect({ servers: server.url, user: "alice", pass: "nope", reconnect: false })).rejects.toThrow(/authorization violation/i);
    } finally {
      void service.stop();
      await server.stop();
    }
    expect((await service.exited).code).toBe(0);
  });

  it("init (operator mode): the generated callout.json configures a service; clients use the sentinel", async () => {
    const out = join(dir, "operator");
    await run(process.execPath, [CLI, "init", out, "--mode", "operator"]);
    const server = await serverFrom(out);
    @AuthCallout()
    class Anyone implements Authorizer {
      authorize(): Grant {
        return { account: "APP" };
      }
    }
    const app = await NatsApp.create({
      servers: server.url,
      creds: await readFile(join(out, "service.creds"), "utf8"),
      controllers: [Anyone],
      providers: [authCalloutConfig(JSON.parse(await readFile(join(out, "callout.json"), "utf8")))],
      logger: captureLogs().logger,
    });
    await app.start();
    try {
      const sentinel = await readFile(join(out, "sentinel.creds"));
      const nc = await connect({ servers: server.url, user: "zoe", pass: "x", reconnect: false, authenticator: credsAuthenticator(sentinel) });
      await nc.close();
    } finally {
      await app.stop();
      await server.stop();
    }
  });
});
