import type { BruteForceSettings, FailureBudget } from "../config/brute-force.js";

/** What is known about one key: its recent failures (ms timestamps) and, once its budget is spent, the lockout's end. */
export interface FailureRecord {
  readonly failures: readonly number[];
  /** 0 when not locked. */
  readonly lockedUntil: number;
}

/** `lockoutMs` 0: delay-only, never locked. `maxDelayMs` defaults to `lockoutMs`. */
export type Timing = Pick<BruteForceSettings, "windowMs" | "lockoutMs" | "delayBaseMs"> & { readonly maxDelayMs?: number };

function recent(record: FailureRecord, timing: Timing, now: number): { count: number; last: number } {
  const since = now - timing.windowMs;
  let count = 0;
  let last = 0;
  for (const t of record.failures) {
    if (t <= since) continue;
    count++;
    if (t > last) last = t;
  }
  return { count, last };
}

/**
 * When the key may try again, or 0 when it may now: after the lockout, or — past `delayAfter`
 * failures in the window — `delayBaseMs` after the last one, doubling with each further failure
 * (never longer than `maxDelayMs`).
 */
export function retryAt(record: FailureRecord | undefined, budget: FailureBudget, timing: Timing, now: number): number {
  if (!record) return 0;
  if (record.lockedUntil > now) return record.lockedUntil;
  const { count, last } = recent(record, timing, now);
  if (count < budget.delayAfter) return 0;
  const until = last + Math.min(timing.delayBaseMs * 2 ** (count - budget.delayAfter), timing.maxDelayMs ?? timing.lockoutMs);
  return until > now ? until : 0;
}

export function isLocked(record: FailureRecord | undefined, now: number): boolean {
  return record !== undefined && record.lockedUntil > now;
}

/**
 * The record after one more failure at `now`. Spending the budget starts a lockout and clears the
 * count, so it ends clean; in delay-only mode it keeps the latest `failures`, the ones that set the delay.
 */
export function withFailure(record: FailureRecord | undefined, budget: FailureBudget, timing: Timing, now: number): FailureRecord {
  const since = now - timing.windowMs;
  const failures = [...(record?.failures ?? []).filter((t) => t > since), now].slice(-budget.failures);
  if (timing.lockoutMs > 0 && failures.length >= budget.failures) return { failures: [], lockedUntil: now + timing.lockoutMs };
  return { failures, lockedUntil: isLocked(record, now) ? record!.lockedUntil : 0 };
}

/** Nothing in the record matters any more: no lockout, no failure in the window. */
export function isSpent(record: FailureRecord, timing: Timing, now: number): boolean {
  return record.lockedUntil <= now && recent(record, timing, now).count === 0;
}

/** A record at least as strict as both: the later lock end, and the failures of the one with more in the window. */
export function stricter(a: FailureRecord, b: FailureRecord, timing: Timing, now: number): FailureRecord {
  const failures = recent(b, timing, now).count >= recent(a, timing, now).count ? b.failures : a.failures;
  return { failures, lockedUntil: Math.max(a.lockedUntil, b.lockedUntil) };
}
