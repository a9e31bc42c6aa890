import { createHash } from "node:crypto";

import { SetupError } from "@natsflow/core";

/** A failure budget for one kind of key (a username, or a client address). */
export interface FailureBudgetOptions {
  /** Failures within the window that lock the key out. Not with `mode: "delay-only"`. */
  failures?: number;
  /** Failures after which each further attempt must wait an exponential delay. */
  delayAfter?: number;
}

/**
 * Brute-force protection for password and token logins: per-user and per-address failure budgets
 * over a sliding window, an exponential delay, then a lockout. On by default.
 */
export interface BruteForceOptions {
  /**
   * "lockout" (default): a key that spends its budget is locked out for `lockoutMs`. "delay-only":
   * never locked, only delayed, up to `maxDelayMs` between attempts.
   */
  mode?: "lockout" | "delay-only";
  /** The sliding window failures are counted in, in ms. Default 15 min. */
  windowMs?: number;
  /** How long a key stays locked once its budget is spent, in ms. Default 15 min. Not with `mode: "delay-only"`. */
  lockoutMs?: number;
  /** The first delay, doubling with each further failure, in ms. Default 1000. */
  delayBaseMs?: number;
  /** The longest delay, in ms. Default `lockoutMs` (at most that), or 15 min in delay-only mode. */
  maxDelayMs?: number;
  /** Budget per username (password logins). Default { failures: 20, delayAfter: 5 }; false: not counted. */
  perUser?: FailureBudgetOptions | false;
  /** Budget per client address (password and token logins). Default { failures: 100, delayAfter: 50 }; false: not counted. */
  perAddress?: FailureBudgetOptions | false;
  /** IPv6 clients are counted per network of this prefix length (1–128). Default 64. */
  ipv6Prefix?: number;
  /**
   * The name a username's budget is kept under. Default `canonicalUsername`: NFKC, trimmed and
   * case-folded, so `ALICE`, ` alice` and `ａｌｉｃｅ` share alice's budget. Replace it when your
   * authorizer matches names more loosely still; never with one that tells apart names it admits as one.
   */
  canonicalUser?: (username: string) => string;
  /** "memory" (default): counters per instance. "kv": shared through a JetStream KV bucket by every instance. */
  store?: "memory" | "kv";
  /** The KV bucket with `store: "kv"`. Default "natsflow_auth_failures". */
  bucket?: string;
  /**
   * Copies of that bucket in a JetStream cluster (1–5), so lockouts outlive a node. Default 1. Applies
   * when the bucket is made; an existing bucket keeps its own (`nats stream edit KV_<bucket> --replicas 3`).
   */
  replicas?: number;
}

export interface FailureBudget {
  readonly failures: number;
  readonly delayAfter: number;
}

/** The validated policy. */
export interface BruteForceSettings {
  readonly mode: "lockout" | "delay-only";
  readonly windowMs: number;
  /** 0 in delay-only mode. */
  readonly lockoutMs: number;
  readonly delayBaseMs: number;
  readonly maxDelayMs: number;
  /** In delay-only mode `failures` is where the delay reaches `maxDelayMs`: older failures no longer matter. */
  readonly perUser: FailureBudget | undefined;
  readonly perAddress: FailureBudget | undefined;
  readonly ipv6Prefix: number;
  readonly canonicalUser: (username: string) => string;
  readonly store: "memory" | "kv";
  readonly bucket: string;
  readonly replicas: number;
  /** Keys the counters' names, so a shared bucket holds no username or address in the clear. */
  readonly keySecret: Buffer;
}

export const DEFAULT_FAILURE_BUCKET = "natsflow_auth_failures";
const MINUTES_15 = 15 * 60_000;

/**
 * The default `canonicalUser`: Unicode NFKC (full-width and compatibility forms become plain ones),
 * trimmed, then case-folded by upper- then lower-casing, which is locale-independent (unlike
 * `toLocaleLowerCase`) and also joins `ß`/`SS` and `ς`/`σ`. Coarser than most authorizers on purpose:
 * two names that share a budget cost a little availability; two spellings with their own budgets
 * for one account multiply the guesses.
 */
export function canonicalUsername(username: string): string {
  return username.normalize("NFKC").trim().toUpperCase().toLowerCase();
}

function positiveMs(setting: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new SetupError(`bruteForce.${setting}`, `must be a positive number of milliseconds, got ${String(value)}.`);
  }
  return value;
}

function count(setting: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
    throw new SetupError(`bruteForce.${setting}`, `must be a whole number ≥ 1, got ${String(value)}.`);
  }
  return value;
}

interface Delays {
  readonly delayOnly: boolean;
  readonly delayBaseMs: number;
  readonly maxDelayMs: number;
}

function budget(setting: string, value: FailureBudgetOptions | false | undefined, defaults: FailureBudget, delays: Delays): FailureBudget | undefined {
  if (value === false) return undefined;
  if (value !== undefined && (value === null || typeof value !== "object")) {
    throw new SetupError(`bruteForce.${setting}`, "must be an object like { failures, delayAfter } or false.");
  }
  if (delays.delayOnly) {
    if (value?.failures !== undefined) {
      throw new SetupError(`bruteForce.${setting}.failures`, 'is set, but mode is "delay-only", which never locks out.', 'remove it (delayAfter still applies), or use mode: "lockout".');
    }
    const delayAfter = count(`${setting}.delayAfter`, value?.delayAfter ?? defaults.delayAfter);
    // Past this many failures the delay is at its cap: a record need keep no more.
    const doublings = Math.max(0, Math.ceil(Math.log2(delays.maxDelayMs / delays.delayBaseMs)));
    return { failures: delayAfter + doublings + 1, delayAfter };
  }
  const failures = count(`${setting}.failures`, value?.failures ?? defaults.failures);
  const delayAfter = count(`${setting}.delayAfter`, value?.delayAfter ?? Math.min(defaults.delayAfter, failures));
  if (delayAfter > failures) {
    throw new SetupError(`bruteForce.${setting}.delayAfter`, `(${delayAfter}) is more than failures (${failures}).`, "make delayAfter at most failures; equal means no delay before the lockout.");
  }
  return { failures, delayAfter };
}

function ipv6Prefix(value: unknown): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1 || value > 128) {
    throw new SetupError("bruteForce.ipv6Prefix", `must be a whole number from 1 to 128, got ${String(value)}.`, "use 64 (a typical subscriber's network) or 56/48 to count larger networks as one client.");
  }
  return value;
}

function canonicalUser(value: unknown): (username: string) => string {
  if (typeof value !== "function") {
    throw new SetupError("bruteForce.canonicalUser", `must be a function from a username to the name its budget is kept under, got ${typeof value}.`);
  }
  const fn = value as (username: string) => unknown;
  let probe: unknown;
  try {
    probe = fn(" Alice ");
  } catch (e) {
    throw new SetupError("bruteForce.canonicalUser", "threw on a plain username.", "make it total: it runs before every password login.", { cause: e });
  }
  if (typeof probe !== "string") {
    throw new SetupError("bruteForce.canonicalUser", `returned ${typeof probe}, not a string.`);
  }
  return value as (username: string) => string;
}

/** Checks every setting; a bad one is a `SetupError` naming it and the fix. `undefined`: off. */
export function bruteForceSettings(options: BruteForceOptions | false | undefined, issuerSeed: string): BruteForceSettings | undefined {
  if (options === false) return undefined;
  if (options !== undefined && (options === null || typeof options !== "object")) {
    throw new SetupError("bruteForce", "must be an object of settings, or false to turn brute-force protection off.");
  }
  const o = options ?? {};
  const mode = o.mode ?? "lockout";
  if (mode !== "lockout" && mode !== "delay-only") {
    throw new SetupError("bruteForce.mode", `must be "lockout" or "delay-only", got ${String(mode)}.`);
  }
  const delayOnly = mode === "delay-only";
  if (delayOnly && o.lockoutMs !== undefined) {
    throw new SetupError("bruteForce.lockoutMs", 'is set, but mode is "delay-only", which never locks out.', 'remove it (maxDelayMs bounds the delay), or use mode: "lockout".');
  }
  const store = o.store ?? "memory";
  if (store !== "memory" && store !== "kv") {
    throw new SetupError("bruteForce.store", `must be "memory" or "kv", got ${String(store)}.`, 'use "kv" to share the counters across instances through JetStream.');
  }
  const bucket = o.bucket ?? DEFAULT_FAILURE_BUCKET;
  if (typeof bucket !== "string" || !/^[A-Za-z0-9_-]+$/.test(bucket)) {
    throw new SetupError("bruteForce.bucket", `"${String(bucket)}" is not a KV bucket name.`, "use letters, digits, - and _ only.");
  }
  if (o.bucket !== undefined && store !== "kv") {
    throw new SetupError("bruteForce.bucket", 'is set, but the store is "memory".', 'add store: "kv", or leave bucket out.');
  }
  const replicas = o.replicas ?? 1;
  if (typeof replicas !== "number" || !Number.isInteger(replicas) || replicas < 1 || replicas > 5) {
    throw new SetupError("bruteForce.replicas", `must be a whole number from 1 to 5, got ${String(replicas)}.`, "use 3 (or 5) in a JetStream cluster of at least as many nodes, 1 on a single server.");
  }
  if (o.replicas !== undefined && store !== "kv") {
    throw new SetupError("bruteForce.replicas", 'is set, but the store is "memory".', 'add store: "kv", or leave replicas out.');
  }
  const windowMs = positiveMs("windowMs", o.windowMs ?? MINUTES_15);
  const lockoutMs = delayOnly ? 0 : positiveMs("lockoutMs", o.lockoutMs ?? MINUTES_15);
  const delayBaseMs = positiveMs("delayBaseMs", o.delayBaseMs ?? 1000);
  const maxDelayMs = positiveMs("maxDelayMs", o.maxDelayMs ?? (delayOnly ? MINUTES_15 : lockoutMs));
  if (!delayOnly && maxDelayMs > lockoutMs) {
    throw new SetupError("bruteForce.maxDelayMs", `(${maxDelayMs} ms) is longer than lockoutMs (${lockoutMs} ms).`, "make it at most lockoutMs: a delay longer than a lockout is a lockout.");
  }
  const delays = { delayOnly, delayBaseMs, maxDelayMs };
  const perUser = budget("perUser", o.perUser, { failures: 20, delayAfter: 5 }, delays);
  const perAddress = budget("perAddress", o.perAddress, { failures: 100, delayAfter: 50 }, delays);
  if (!perUser && !perAddress) {
    throw new SetupError("bruteForce", "counts neither users nor addresses.", "set bruteForce: false to turn it off.");
  }
  return {
    mode,
    windowMs,
    lockoutMs,
    delayBaseMs,
    maxDelayMs,
    perUser,
    perAddress,
    ipv6Prefix: ipv6Prefix(o.ipv6Prefix ?? 64),
    canonicalUser: o.canonicalUser === undefined ? canonicalUsername : canonicalUser(o.canonicalUser),
    store,
    bucket,
    replicas,
    keySecret: createHash("sha256").update("natsflow brute-force keys\0").update(issuerSeed).digest(),
  };
}
