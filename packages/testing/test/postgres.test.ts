import { existsSync } from "node:fs";
import { userInfo } from "node:os";
import { join } from "node:path";

import { SetupError } from "@natsflow/core";
import { processesLeftRunning, resolvePostgres, spawnTracked, startPostgres, type PostgresServer, type ResolvedPostgres } from "@natsflow/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe("a throwaway PostgreSQL", () => {
  let resolved: ResolvedPostgres;
  let server: PostgresServer;
  beforeAll(async () => {
    // First, while nothing is cached: an explicit directory without a server is an error, not a fallback.
    process.env.POSTGRES_BIN_DIR = "/nonexistent";
    await expect(resolvePostgres()).rejects.toThrow(SetupError);
    await expect(resolvePostgres()).rejects.toThrow(/^POSTGRES_BIN_DIR: \/nonexistent holds no runnable postgres and initdb/);
    delete process.env.POSTGRES_BIN_DIR;
    // Here Debian's postgresql 15 is installed; where it is not, this file fails: it tests the launcher.
    resolved = await resolvePostgres();
    server = await startPostgres();
    console.log(`PostgreSQL ${server.version} at ${server.host}:${server.port} (${resolved.source}: ${resolved.binDir})`);
  });
  afterAll(() => server?.stop());

  const psql = async (url: string, sql: string) => {
    const p = spawnTracked(join(resolved.binDir, "psql"), ["-X", "-w", "-A", "-t", "-c", sql, url], { label: "psql", env: { PATH: process.env.PATH ?? "" } });
    const exit = await p.exited;
    return { code: exit.code, output: p.output.trim() };
  };

  it("serves its URL on a loopback port, with the version found", async () => {
    expect(resolved.version).toMatch(/^\d+\.\d+$/);
    expect(server.url).toBe(`postgres://postgres:${new URL(server.url).password}@127.0.0.1:${server.port}/postgres`);
    const answer = await psql(server.url, "select current_user || ' ' || current_setting('server_version') || ' ' || inet_server_port()");
    expect(answer).toMatchObject({ code: 0 });
    expect(answer.output).toMatch(new RegExp(`^postgres ${resolved.version.replace(".", "\\.")}\\b.* ${server.port}$`));
  });

  it("asks for the generated password", async () => {
    const url = new URL(server.url);
    url.password = "";
    const refused = await psql(url.toString(), "select 1");
    expect(refused.code).not.toBe(0);
    expect(refused.output).toMatch(/password/);
  });

  it("runs as the postgres user when the tests run as root, else as the current user", async () => {
    const ps = spawnTracked("ps", ["-o", "user=", "-p", String(server.pid)], { label: "ps" });
    await ps.exited;
    expect(ps.output.trim()).toBe(process.getuid?.() === 0 ? "postgres" : userInfo().username);
  });

  it("stops: the postmaster and its backends exit, and the data directory is removed", async () => {
    const pid = server.pid as number;
    expect(alive(pid)).toBe(true);
    // Its children: the checkpointer, WAL writer, autovacuum launcher, … (and a backend per open session).
    const children = spawnTracked("pgrep", ["-P", String(pid)], { label: "pgrep" });
    await children.exited;
    const childPids = children.output.split("\n").filter(Boolean).map(Number);
    expect(childPids.length).toBeGreaterThan(0);
    expect(existsSync(join(server.dir, "data", "PG_VERSION"))).toBe(true);
    await server.stop();
    await server.stop(); // twice is harmless
    expect(alive(pid)).toBe(false);
    expect(existsSync(server.dir)).toBe(false);
    expect(childPids.filter(alive)).toEqual([]);
    expect(await processesLeftRunning(0)).toEqual([]);
  });
});
