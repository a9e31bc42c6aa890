/**
 * Finds a PostgreSQL server's binaries (`postgres` and `initdb`, side by side), in this order:
 * `POSTGRES_BIN_DIR`; `postgres` on PATH (symlinks followed to the real directory); the newest
 * `/usr/lib/postgresql/<major>/bin`, where Debian's packages install them (not on PATH there).
 *
 * It is not provisioned from Debian's archive as nats-server is: `postgresql-15`'s binaries link
 * libicu72, libxml2, libpq5, libldap and the Kerberos libraries, which a Debian machine without
 * PostgreSQL lacks, so an unpacked copy would not run. `npm run setup` installs the package with apt.
 */
import { execFile } from "node:child_process";
import { constants } from "node:fs";
import { access, readdir, realpath } from "node:fs/promises";
import { dirname, join } from "node:path";
import { promisify } from "node:util";

import { NatsflowError, SetupError } from "@natsflow/core";

import { onPath } from "@natsflow/devkit";

const run = promisify(execFile);
const DEBIAN_ROOT = "/usr/lib/postgresql";

export class PostgresNotFoundError extends NatsflowError {}

export interface ResolvedPostgres {
  /** The directory holding `postgres` and `initdb`. */
  binDir: string;
  /** `15.18`, from `postgres --version`. */
  version: string;
  source: "POSTGRES_BIN_DIR" | "PATH" | "debian";
}

const INSTALL_HINT =
  "Fix: `npm run setup` (installs Debian's postgresql with apt), or install PostgreSQL yourself and put its bin directory on PATH or in POSTGRES_BIN_DIR.";

/** The server's version, when `dir` holds a runnable `postgres` and an `initdb`. */
async function versionIn(dir: string): Promise<string | undefined> {
  try {
    await access(join(dir, "initdb"), constants.X_OK);
    const { stdout } = await run(join(dir, "postgres"), ["--version"], { timeout: 10_000 });
    return /\(PostgreSQL\)\s+(\d+(?:\.\d+)?)/.exec(stdout)?.[1];
  } catch {
    return undefined;
  }
}

/** Debian's bin directories, newest major version first. */
async function debianDirs(): Promise<string[]> {
  try {
    const majors = (await readdir(DEBIAN_ROOT)).filter((d) => /^\d+$/.test(d)).sort((a, b) => Number(b) - Number(a));
    return majors.map((m) => join(DEBIAN_ROOT, m, "bin"));
  } catch {
    return [];
  }
}

let resolving: Promise<ResolvedPostgres> | undefined;

/** Resolves once per process; concurrent callers share the work. Throws PostgresNotFoundError when there is none. */
export function resolvePostgres(): Promise<ResolvedPostgres> {
  resolving ??= doResolve().catch((e: unknown) => {
    resolving = undefined;
    throw e;
  });
  return resolving;
}

async function doResolve(): Promise<ResolvedPostgres> {
  const fromEnv = process.env.POSTGRES_BIN_DIR;
  if (fromEnv) {
    const version = await versionIn(fromEnv);
    if (!version) throw new SetupError("POSTGRES_BIN_DIR", `${fromEnv} holds no runnable postgres and initdb.`, "point it at a PostgreSQL bin directory, or unset it.");
    return { binDir: fromEnv, version, source: "POSTGRES_BIN_DIR" };
  }
  const found = await onPath("postgres");
  if (found) {
    const binDir = dirname(await realpath(found));
    const version = await versionIn(binDir);
    if (version) return { binDir, version, source: "PATH" };
  }
  for (const binDir of await debianDirs()) {
    const version = await versionIn(binDir);
    if (version) return { binDir, version, source: "debian" };
  }
  throw new PostgresNotFoundError(`no PostgreSQL server found (postgres and initdb on PATH, or in ${DEBIAN_ROOT}/<version>/bin). ${INSTALL_HINT}`);
}

/** CI=true (or any value but "false"/"0"), as CI services set it. */
function inCi(): boolean {
  const ci = process.env.CI;
  return ci !== undefined && ci !== "" && ci !== "false" && ci !== "0";
}

/**
 * For a test file with a PostgreSQL half: the server's binaries, or undefined, with the skip printed
 * (never silent), when there is none. Under CI a missing PostgreSQL throws instead: CI installs it
 * (`npm run setup`), so its absence there is a broken set-up, as a missing nats-server is.
 */
export async function postgresOrSkip(suite: string): Promise<ResolvedPostgres | undefined> {
  try {
    return await resolvePostgres();
  } catch (e) {
    if (!(e instanceof PostgresNotFoundError)) throw e;
    if (inCi()) throw new PostgresNotFoundError(`${e.message} Under CI (CI=${String(process.env.CI)}) it is required, not skipped.`, { cause: e });
    console.log(`SKIPPED: ${suite} on PostgreSQL: ${e.message}`);
    return undefined;
  }
}
