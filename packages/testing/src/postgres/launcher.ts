import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chown, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

import { NatsflowError } from "@natsflow/core";

import { freePort, registerSecret, spawnTracked, type TrackedProcess } from "@natsflow/devkit";
import { resolvePostgres } from "./resolve.js";

const run = promisify(execFile);

export class PostgresStartError extends NatsflowError {}

export interface StartPostgresOptions {
  /** Give up if the server is not ready within this many ms. Default 30 s. */
  startTimeoutMs?: number;
}

export interface PostgresServer {
  /** `postgres://postgres:<password>@127.0.0.1:<port>/postgres`; the password is generated and registered with the secret scan. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** The server's version, e.g. `15.18`. */
  readonly version: string;
  /** The temp dir holding the data directory; removed by `stop()`. */
  readonly dir: string;
  /** The postmaster's process id. */
  readonly pid: number | undefined;
  /** Everything the server has logged. */
  readonly log: string;
  /** Fast shutdown (SIGINT: sessions ended, no waiting for clients), then the data directory is removed. Safe to call twice. */
  stop(): Promise<void>;
}

const running = new Set<TrackedProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort when a test run dies without stop(): immediate shutdown takes the backends with it.
  process.once("exit", () => {
    for (const p of running) p.child.kill("SIGQUIT");
  });
}

/** PostgreSQL refuses to run as root: as root, its files and processes belong to the `postgres` system user. */
async function serverUser(): Promise<{ uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  try {
    const [uid, gid] = await Promise.all([run("id", ["-u", "postgres"]), run("id", ["-g", "postgres"])]);
    return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
  } catch (e) {
    throw new PostgresStartError(
      "running as root, and PostgreSQL refuses root, but there is no `postgres` user to run it as. Fix: `npm run setup` (Debian's postgresql package creates it), or `useradd --system --user-group postgres`.",
      { cause: e },
    );
  }
}

/**
 * A throwaway PostgreSQL: a fresh cluster (`initdb`, password login) in a temp dir, served on a
 * free loopback port with durability off (tests need speed, not crash safety). As root it runs as
 * the `postgres` user. The postmaster is a tracked child process; `stop()` ends it and its backends
 * and removes the temp dir.
 */
export async function startPostgres(options: StartPostgresOptions = {}): Promise<PostgresServer> {
  const { binDir, version } = await resolvePostgres();
  const user = await serverUser();
  const dir = await mkdtemp(join(tmpdir(), "natsflow-pg-"));
  try {
    if (user) await chown(dir, user.uid, user.gid);
    const spawnOptions = { cwd: dir, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", LC_ALL: "C" }, ...(user ?? {}) };
    const password = randomBytes(18).toString("base64url");
    registerSecret(password);
    const pwfile = join(dir, "pwfile");
    await writeFile(pwfile, `${password}\n`, { mode: 0o600 });
    if (user) await chown(pwfile, user.uid, user.gid);
    const data = join(dir, "data");
    const initdb = spawnTracked(
      join(binDir, "initdb"),
      ["-D", data, "-U", "postgres", `--pwfile=${pwfile}`, "--auth=scram-sha-256", "-E", "UTF8", "--no-locale", "--no-sync", "--no-instructions"],
      { ...spawnOptions, label: `initdb ${data}` },
    );
    const made = await initdb.exited;
    await rm(pwfile, { force: true });
    if (made.code !== 0) throw new PostgresStartError(`initdb exited ${String(made.code)}:\n${initdb.output.slice(-3000)}`);

    const until = Date.now() + (options.startTimeoutMs ?? 30_000);
    // A free port can be taken between the probe and the bind: try another.
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const postmaster = spawnTracked(
        join(binDir, "postgres"),
        [
          "-D", data, "-p", String(port),
          "-c", "listen_addresses=127.0.0.1",
          "-c", "unix_socket_directories=",
          "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
        ],
        { ...spawnOptions, label: `postgres ${data}` },
      );
      running.add(postmaster);
      installExitHook();
      void postmaster.exited.then(() => running.delete(postmaster));
      try {
        await postmaster.waitForOutput(/database system is ready to accept connections/, Math.max(until - Date.now(), 0));
      } catch (e) {
        await postmaster.stop("SIGQUIT");
        if (attempt < 3 && /could not bind|Address already in use/.test(postmaster.output)) continue;
        throw new PostgresStartError(`postgres did not start: ${(e as Error).message}`, { cause: e });
      }
      let stopping: Promise<void> | undefined;
      return {
        url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
        host: "127.0.0.1",
        port,
        version,
        dir,
        pid: postmaster.child.pid,
        get log() {
          return postmaster.output;
        },
        stop: () =>
          (stopping ??= (async () => {
            const fast = postmaster.stop("SIGINT");
            // A fast shutdown that hangs becomes an immediate one.
            const timer = setTimeout(() => postmaster.child.kill("SIGQUIT"), 10_000);
            await fast;
            clearTimeout(timer);
            await rm(dir, { recursive: true, force: true });
          })()),
      };
    }
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
}
