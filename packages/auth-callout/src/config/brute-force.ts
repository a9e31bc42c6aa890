import { createHash } from "node:crypto";

import { SetupError } from "@natsflow/core";

/** A failure budget for one kind of key (a username, or a client address). */
export interface FailureBudgetOptions {
  /** Failures within the window that lock the key out. */
  failures?: number;
  /** Failures after which each further attempt must wait an exponential delay. */
  delayAfter?: number;
}

/**
 * Brute-force protection for password and token logins: per-user and per-address failure budgets
 * over a sliding window, an exponential delay, then a lockout. On by default.
 */
export interface BruteForceOptions {
  /** The sliding window failures are counted in, in ms. Default 15 min. */
  windowMs?: number;
  /** How long a key stays locked once its budget is spent, in ms. Default 15 min. */
  lockoutMs?: number;
  /** The first delay, doubling with each further failure, in ms. Default 1000. */
  delayBaseMs?: number;
  /** Budget per username (password logins). Default { failures: 20, delayAfter: 5 }; false: not counted. */
  perUser?: FailureBudgetOptions | false;
  /** Budget per client address (password and token logins). Default { failures: 100, delayAfter: 50 }; false: not counted. */
  perAddress?: FailureBudgetOptions | false;
  /** "memory" (default): counters per instance. "kv": shared through a JetStream KV bucket by every instance. */
  store?: "memory" | "kv";
  /** The KV bucket with `store: "kv"`. Default "natsflow_auth_failures". */
  bucket?: string;
}

export interface FailureBudget {
  readonly failures: number;
  readonly delayAfter: number;
}

/** The validated policy. */
export interface BruteForceSettings {
  readonly windowMs: number;
  readonly lockoutMs: number;
  readonly delayBaseMs: number;
  readonly perUser: FailureBudget | undefined;
  readonly perAddress: FailureBudget | undefined;
  readonly store: "memory" | "kv";
  readonly bucket: string;
  /** Keys the counters' names, so a shared bucket holds no username or address in the clear. */
  readonly keySecret: Buffer;
}

export const DEFAULT_FAILURE_BUCKET = "natsflow_auth_failures";
const MINUTES_15 = 15 * 60_000;

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

function budget(setting: string, value: FailureBudgetOptions | false | undefined, defaults: FailureBudget): FailureBudget | undefined {
  if (value === false) return undefined;
  if (value !== undefined && (value === null || typeof value !== "object")) {
    throw new SetupError(`bruteForce.${setting}`, "must be an object like { failures, delayAfter } or false.");
  }
  const failures = count(`${setting}.failures`, value?.failures ?? defaults.failures);
  const delayAfter = count(`${setting}.delayAfter`, value?.delayAfter ?? Math.min(defaults.delayAfter, failures));
  if (delayAfter > failures) {
    throw new SetupError(`bruteForce.${setting}.delayAfter`, `(${delayAfter}) is more than failures (${failures}).`, "make delayAfter at most failures; equal means no delay before the lockout.");
  }
  return { failures, delayAfter };
}

/** Checks every setting; a bad one is a `SetupError` naming it and the fix. `undefined`: off. */
export function bruteForceSettings(options: BruteForceOptions | false | undefined, issuerSeed: string): BruteForceSettings | undefined {
  if (options === false) return undefined;
  if (options !== undefined && (options === null || typeof options !== "object")) {
    throw new SetupError("bruteForce", "must be an object of settings, or false to turn brute-force protection off.");
  }
  const o = options ?? {};
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
  const perUser = budget("perUser", o.perUser, { failures: 20, delayAfter: 5 });
  const perAddress = budget("perAddress", o.perAddress, { failures: 100, delayAfter: 50 });
  if (!perUser && !perAddress) {
    throw new SetupError("bruteForce", "counts neither users nor addresses.", "set bruteForce: false to turn it off.");
  }
  return {
    windowMs: positiveMs("windowMs", o.windowMs ?? MINUTES_15),
    lockoutMs: positiveMs("lockoutMs", o.lockoutMs ?? MINUTES_15),
    delayBaseMs: positiveMs("delayBaseMs", o.delayBaseMs ?? 1000),
    perUser,
    perAddress,
    store,
    bucket,
    keySecret: createHash("sha256").update("natsflow brute-force keys\0").update(issuerSeed).digest(),
  };
}
