import { availableParallelism } from "node:os";

import { OverloadedError, SetupError } from "@natsflow/core";

/** How much of each new measurement the moving averages take in (as TCP's round-trip estimate, a bit faster). */
const EWMA_WEIGHT = 0.25;
/** A job starts only if the mean plus this many mean deviations still fits before its deadline. */
const DEVIATIONS = 4;

export interface HashQueueOptions {
  /** Hashes computed at once; the rest wait in arrival order. Default: the CPU count, leaving one of libuv's threads spare. */
  concurrency?: number;
}

export interface HashJob<T> {
  /** Names the estimate this job's cost is tracked under, e.g. the hash's algorithm and parameters. */
  kind: string;
  /** The first estimate for a kind never measured, in ms. */
  seedMs: number;
  /** Epoch ms by which it must be done; refused as busy if it cannot be. */
  deadline?: number | undefined;
  /** Aborting it removes a waiting job (rejected with the signal's reason); a running one finishes. */
  signal?: AbortSignal | undefined;
  run: () => Promise<T>;
}

interface Estimate {
  mean: number;
  deviation: number;
}

interface Waiting {
  kind: string;
  seedMs: number;
  cost: number;
  deadline: number;
  start(slot: Running): void;
  refuse(error: unknown): void;
}

interface Running {
  startedAt: number;
  cost: number;
}

/** libuv reads UV_THREADPOOL_SIZE once; more hashes than threads would queue unseen in libuv. */
function threadpoolSize(): number {
  const n = Number(process.env.UV_THREADPOOL_SIZE);
  return Number.isInteger(n) && n > 0 ? n : 4;
}

/** One hash per core, leaving a thread for `fs` and DNS look-ups, which share the threadpool. */
function defaultHashConcurrency(): number {
  return Math.max(1, Math.min(availableParallelism(), threadpoolSize() - 1));
}

function checkConcurrency(value: unknown): number {
  const pool = threadpoolSize();
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
    throw new SetupError("configurePasswordHashing({ concurrency })", `must be a whole number ≥ 1, got ${String(value)}.`, `use the number of cores to give to hashing (${availableParallelism()} here).`);
  }
  if (value > pool) {
    throw new SetupError(
      "configurePasswordHashing({ concurrency })",
      `is ${value}, more than libuv's threadpool (${pool} threads), so hashes would wait where their deadline is not seen.`,
      `set UV_THREADPOOL_SIZE=${value + 1} or more in the environment before starting node, or lower the concurrency.`,
    );
  }
  return value;
}

/**
 * At most `concurrency` expensive jobs at once, the rest FIFO. It learns what a job of each kind
 * costs (moving mean and mean deviation of measured durations) and refuses at once
 * (`OverloadedError`) a job that, behind the work ahead of it, would not finish by its deadline; a
 * waiting job is refused as soon as its cost, with a margin, no longer fits. So a burst is served up
 * to capacity and the rest hear "busy" in time, instead of every job finishing late. An idle queue
 * needs only the kind's first estimate (`seedMs`) to fit, so an inflated estimate is always measured again.
 */
export class HashQueue {
  private readonly concurrency: number;
  private readonly estimates = new Map<string, Estimate>();
  private readonly waiting = new Set<Waiting>();
  private readonly running = new Set<Running>();
  private waitingCost = 0;

  constructor(options: HashQueueOptions = {}) {
    this.concurrency = options.concurrency === undefined ? defaultHashConcurrency() : checkConcurrency(options.concurrency);
  }

  /** The mean cost of one job of `kind`, in ms (undefined before its first measurement). */
  estimate(kind: string): number | undefined {
    return this.estimates.get(kind)?.mean;
  }

  get size(): { running: number; waiting: number } {
    return { running: this.running.size, waiting: this.waiting.size };
  }

  async run<T>(job: HashJob<T>): Promise<T> {
    job.signal?.throwIfAborted();
    const deadline = job.deadline ?? Number.POSITIVE_INFINITY;
    const now = Date.now();
    // An idle queue starts a job if its kind's first estimate fits: its measurement is the only way
    // back for an estimate a stall inflated (a blocked event loop delays every measured completion),
    // which would otherwise refuse every job from then on, queue empty or not.
    const idle = this.running.size === 0 && this.waiting.size === 0;
    const needed = idle ? job.seedMs : this.startDelay(now) + this.worstCase(job.kind, job.seedMs);
    if (now + needed > deadline) throw new OverloadedError();
    const slot = this.running.size < this.concurrency ? this.claim(job.kind, job.seedMs) : await this.wait(job, deadline);
    return this.execute(job, slot);
  }

  private meanCost(kind: string, seedMs: number): number {
    return this.estimates.get(kind)?.mean ?? seedMs;
  }

  /** What a job may take when the machine is busier than usual: a late start would end past the deadline. */
  private worstCase(kind: string, seedMs: number): number {
    const e = this.estimates.get(kind);
    return e ? e.mean + DEVIATIONS * e.deviation : seedMs;
  }

  /** When a new job would start: now if a slot is free, else once the work ahead (mean costs) is shared out. */
  private startDelay(now: number): number {
    if (this.running.size < this.concurrency) return 0;
    let ahead = this.waitingCost;
    for (const r of this.running) ahead += Math.max(0, r.startedAt + r.cost - now);
    return ahead / this.concurrency;
  }

  private wait(job: HashJob<unknown>, deadline: number): Promise<Running> {
    const { kind, seedMs, signal } = job;
    const cost = this.meanCost(kind, seedMs);
    return new Promise<Running>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const onAbort = () => entry.refuse(signal?.reason);
      const leave = () => {
        this.waiting.delete(entry);
        this.waitingCost -= cost;
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
      };
      const entry: Waiting = {
        kind,
        seedMs,
        cost,
        deadline,
        start: (slot) => {
          leave();
          resolve(slot);
        },
        refuse: (error) => {
          leave();
          reject(error);
        },
      };
      this.waiting.add(entry);
      this.waitingCost += cost;
      signal?.addEventListener("abort", onAbort, { once: true });
      // Refused while the caller can still answer: once it could no longer finish, not at the deadline itself.
      if (Number.isFinite(deadline)) {
        timer = setTimeout(() => entry.refuse(new OverloadedError()), Math.max(0, deadline - this.worstCase(kind, seedMs) - Date.now()));
      }
    });
  }

  /** Taken synchronously, so a job being woken already counts against the bound. */
  private claim(kind: string, seedMs: number): Running {
    const slot: Running = { startedAt: Date.now(), cost: this.meanCost(kind, seedMs) };
    this.running.add(slot);
    return slot;
  }

  private async execute<T>(job: HashJob<T>, slot: Running): Promise<T> {
    try {
      const result = await job.run();
      this.measured(job.kind, Date.now() - slot.startedAt);
      return result;
    } finally {
      this.running.delete(slot);
      this.next();
    }
  }

  private measured(kind: string, ms: number): void {
    const e = this.estimates.get(kind);
    if (!e) {
      this.estimates.set(kind, { mean: ms, deviation: ms / 2 });
      return;
    }
    e.deviation += EWMA_WEIGHT * (Math.abs(ms - e.mean) - e.deviation);
    e.mean += EWMA_WEIGHT * (ms - e.mean);
  }

  /** Starts the oldest waiting job that can still finish in time, by the latest estimate; refuses those that cannot. */
  private next(): void {
    const now = Date.now();
    for (const entry of this.waiting) {
      if (this.running.size >= this.concurrency) return;
      if (now + this.worstCase(entry.kind, entry.seedMs) > entry.deadline) entry.refuse(new OverloadedError());
      else entry.start(this.claim(entry.kind, entry.seedMs));
    }
  }
}
