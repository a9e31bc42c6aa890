import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execFile } from "node:child_process";
import { promisify } from "node:util";

import { NatsServerStartError, natsServerVersion, resolveNatsServer, startNatsServer } from "@natsflow/testing";
import { connect } from "nats";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);
// The CLI's `natsflow nats-server` is the command-line face of resolveNatsServer().
const CLI = new URL("../../cli/dist/main.js", import.meta.url).pathname;

describe("nats-server resolution", () => {
  it("finds a nats-server ≥ 2.10", async () => {
    const server = await resolveNatsServer();
    const [major, minor] = server.version.split(".").map(Number) as [number, number];
    expect(major > 2 || (major === 2 && minor >= 10)).toBe(true);
    expect(await natsServerVersion(server.path)).toBe(server.version);
  });

  it("refuses a NATS_SERVER_BIN that is not a nats-server, instead of silently using another", async () => {
    await expect(run(process.execPath, [CLI, "nats-server"], { env: { ...process.env, NATS_SERVER_BIN: "/bin/false" } })).rejects.toMatchObject({
      stderr: expect.stringMatching(/NATS_SERVER_BIN=\/bin\/false is not a runnable nats-server ≥ 2\.10/),
    });
  });

  it(
    "provisions nats-server from Debian trixie into an empty cache without touching the system's apt setup",
    async () => {
      const cache = await mkdtemp(join(tmpdir(), "natsflow-cache-"));
      try {
        const before = await run("sh", ["-c", "ls -la /etc/apt /etc/apt/sources.list.d /var/lib/apt/lists | md5sum"]);
        const { stdout, stderr } = await run(process.execPath, [CLI, "nats-server"], {
          // No NATS_SERVER_BIN and no nats-server on PATH: the provisioning path.
          env: { ...process.env, NATS_SERVER_BIN: "", PATH: "/usr/sbin:/usr/bin:/sbin:/bin", NATSFLOW_CACHE_DIR: cache },
          timeout: 240_000,
        });
        expect(stderr).toMatch(/nats-server 2\.\d+\.\d+ \(provisioned\)/);
        const path = stdout.trim();
        expect(path.startsWith(cache)).toBe(true);
        expect(await natsServerVersion(path)).toMatch(/^2\.(1\d|[2-9]\d)\./);
        const after = await run("sh", ["-c", "ls -la /etc/apt /etc/apt/sources.list.d /var/lib/apt/lists | md5sum"]);
        expect(after.stdout).toBe(before.stdout);
      } finally {
        await rm(cache, { recursive: true, force: true });
      }
    },
    300_000,
  );
});

describe("NatsServer launcher", () => {
  it("starts on a free loopback port, captures the log, and cleans up on stop", async () => {
    const a = await startNatsServer();
    const b = await startNatsServer({ config: { accounts: { APP: { users: [{ user: "u", password: "p" }] } } } });
    try {
      expect(a.port).not.toBe(b.port);
      expect(a.url).toMatch(/^nats:\/\/127\.0\.0\.1:\d+$/);
      const nc = await connect({ servers: b.url, user: "u", pass: "p" });
      await nc.close();
      expect(a.log).toMatch(/Server is ready/);
    } finally {
      await a.stop();
      await b.stop();
    }
    expect(existsSync(a.dir)).toBe(false);
    expect(a.isRunning).toBe(false);
  });

  it("reports a config the server refuses, with its log", async () => {
    await expect(startNatsServer({ config: "this is { not valid" })).rejects.toBeInstanceOf(NatsServerStartError);
  });
});
