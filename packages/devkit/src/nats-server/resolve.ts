/**
 * Finds a nats-server ≥ 2.10 (auth callout arrived in 2.10), in this order:
 * `NATS_SERVER_BIN`; `nats-server` on PATH; a copy provisioned earlier into the cache; and, on Debian,
 * a fresh copy of the `nats-server` package from the `trixie` suite, downloaded with a private apt
 * configuration (the system's apt setup is never touched) and unpacked with `dpkg-deb -x`.
 */
import { execFile } from "node:child_process";
import { constants } from "node:fs";
import { access, mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { delimiter, join } from "node:path";
import { promisify } from "node:util";

import { NatsflowError } from "@natsflow/core";

const run = promisify(execFile);

export const MIN_NATS_SERVER_VERSION = [2, 10, 0] as const;
const DEBIAN_SUITE = "trixie";
const KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg";

export class NatsServerNotFoundError extends NatsflowError {}

export interface ResolvedNatsServer {
  path: string;
  version: string;
  source: "NATS_SERVER_BIN" | "PATH" | "cache" | "provisioned";
}

export function cacheDir(): string {
  const base = process.env.NATSFLOW_CACHE_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "natsflow");
  return join(base, "nats-server");
}

function parseVersion(text: string): number[] | undefined {
  const m = /v?(\d+)\.(\d+)\.(\d+)/.exec(text);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}

function atLeast(v: number[], min: readonly number[]): boolean {
  for (let i = 0; i < min.length; i++) {
    const a = v[i] ?? 0;
    const b = min[i] ?? 0;
    if (a !== b) return a > b;
  }
  return true;
}

/** The binary's version, or undefined when it does not run. */
export async function natsServerVersion(path: string): Promise<string | undefined> {
  try {
    const { stdout } = await run(path, ["--version"], { timeout: 10_000 });
    const v = parseVersion(stdout);
    return v ? v.join(".") : undefined;
  } catch {
    return undefined;
  }
}

async function suitable(path: string): Promise<string | undefined> {
  const version = await natsServerVersion(path);
  const parsed = version ? parseVersion(version) : undefined;
  return parsed && atLeast(parsed, MIN_NATS_SERVER_VERSION) ? version : undefined;
}

/** The first executable `name` in the PATH directories. */
export async function onPath(name: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // keep looking
    }
  }
  return undefined;
}

const INSTALL_HINT =
  "Install nats-server ≥ 2.10 (a release binary, your package manager, or `go install github.com/nats-io/nats-server/v2@latest`), " +
  "then put it on PATH or set NATS_SERVER_BIN to its path.";

let resolving: Promise<ResolvedNatsServer> | undefined;

/** Resolves once per process; concurrent callers share the work. */
export function resolveNatsServer(): Promise<ResolvedNatsServer> {
  resolving ??= doResolve().catch((e: unknown) => {
    resolving = undefined;
    throw e;
  });
  return resolving;
}

async function doResolve(): Promise<ResolvedNatsServer> {
  const fromEnv = process.env.NATS_SERVER_BIN;
  if (fromEnv) {
    const version = await suitable(fromEnv);
    if (!version) {
      throw new NatsServerNotFoundError(`NATS_SERVER_BIN=${fromEnv} is not a runnable nats-server ≥ 2.10. Fix: point it at one, or unset it.`);
    }
    return { path: fromEnv, version, source: "NATS_SERVER_BIN" };
  }
  const found = await onPath("nats-server");
  if (found) {
    const version = await suitable(found);
    if (version) return { path: found, version, source: "PATH" };
  }
  const cached = join(cacheDir(), "bin", "nats-server");
  const cachedVersion = await suitable(cached);
  if (cachedVersion) return { path: cached, version: cachedVersion, source: "cache" };
  const version = await provisionFromDebian(cached, found);
  return { path: cached, version, source: "provisioned" };
}

/** The archive URI the system's own apt sources use, so the download goes where apt already goes. */
async function debianMirror(): Promise<string | undefined> {
  if (process.env.NATSFLOW_DEBIAN_MIRROR) return process.env.NATSFLOW_DEBIAN_MIRROR;
  const files: string[] = ["/etc/apt/sources.list"];
  try {
    for (const f of await readdir("/etc/apt/sources.list.d")) files.push(join("/etc/apt/sources.list.d", f));
  } catch {
    // no drop-in directory
  }
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch {
      continue;
    }
    // deb822 stanzas (`URIs:` + `Suites:`) and one-line entries (`deb URI suite components`).
    for (const stanza of text.split(/\n\s*\n/)) {
      const uri = /^URIs:\s*(\S+)/m.exec(stanza)?.[1];
      const suites = /^Suites:\s*(.+)$/m.exec(stanza)?.[1] ?? "";
      if (uri && !/security/.test(suites) && !/security/.test(uri)) return uri;
    }
    for (const line of text.split("\n")) {
      const m = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/.exec(line.trim());
      if (m?.[1] && !/security/.test(m[2] ?? "") && !/security/.test(m[1])) return m[1];
    }
  }
  return undefined;
}

async function provisionFromDebian(target: string, tooOld: string | undefined): Promise<string> {
  const why = tooOld ? `${tooOld} is older than 2.10` : "no nats-server on PATH";
  const aptGet = await onPath("apt-get");
  const dpkgDeb = await onPath("dpkg-deb");
  const keyring = await access(KEYRING).then(() => true, () => false);
  const mirror = await debianMirror();
  if (!aptGet || !dpkgDeb || !keyring || !mirror) {
    throw new NatsServerNotFoundError(`nats-server ≥ 2.10 not found (${why}) and this is not a Debian system it can be provisioned on. ${INSTALL_HINT}`);
  }
  const root = cacheDir();
  await mkdir(root, { recursive: true });
  const work = await mkdtemp(join(root, "provision-"));
  try {
    const sources = join(work, "sources");
    const lists = join(work, "lists");
    await mkdir(sources);
    await mkdir(join(lists, "partial"), { recursive: true });
    await mkdir(join(work, "cache", "archives", "partial"), { recursive: true });
    await writeFile(join(sources, `${DEBIAN_SUITE}.list`), `deb [signed-by=${KEYRING}] ${mirror} ${DEBIAN_SUITE} main\n`);
    const aptOptions = [
      "-q",
      "-o", `Dir::Etc::sourceparts=${sources}`,
      "-o", "Dir::Etc::sourcelist=/dev/null",
      "-o", `Dir::State::Lists=${lists}`,
      "-o", `Dir::Cache=${join(work, "cache")}`,
      "-o", "Debug::NoLocking=1",
      "-o", "APT::Sandbox::User=root",
    ];
    const step = async (what: string, file: string, args: string[]) => {
      try {
        await run(file, args, { cwd: work, timeout: 300_000, maxBuffer: 16 * 1024 * 1024 });
      } catch (e) {
        const err = e as { stderr?: string; message: string };
        throw new NatsServerNotFoundError(`provisioning nats-server failed at "${what}": ${(err.stderr ?? err.message).trim().slice(-800)}. ${INSTALL_HINT}`, { cause: e });
      }
    };
    await step("apt-get update", aptGet, [...aptOptions, "update"]);
    await step("apt-get download", aptGet, [...aptOptions, "download", "nats-server"]);
    const deb = (await readdir(work)).find((f) => f.startsWith("nats-server_") && f.endsWith(".deb"));
    if (!deb) throw new NatsServerNotFoundError(`apt-get download left no nats-server .deb. ${INSTALL_HINT}`);
    await step("dpkg-deb -x", dpkgDeb, ["-x", join(work, deb), join(work, "root")]);
    const binary = join(work, "root", "usr", "sbin", "nats-server");
    const version = await suitable(binary);
    if (!version) throw new NatsServerNotFoundError(`the ${DEBIAN_SUITE} package's nats-server does not run here or is older than 2.10. ${INSTALL_HINT}`);
    await mkdir(join(root, "bin"), { recursive: true });
    // rename is atomic: a concurrent provisioner either sees the old state or a complete binary.
    await rename(binary, target);
    return version;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
