// The bounded hashing queue with stand-in jobs: its bound, its order, its busy refusals and its estimate.
import { OverloadedError, SetupError } from "@natsflow/core";
import { afterEach, describe, expect, it, vi } from "vitest";

import { HashQueue } from "../src/credentials/hash-queue.js";

/** A job that finishes when told to, recording when it started. */
function gate(log: string[], name: string) {
  let open!: (v: string) => void;
  const done = new Promise<string>((r) => (open = r));
  return { run: () => (log.push(name), done), open: () => open(name) };
}

const flush = () => new Promise((r) => setImmediate(r));

describe("HashQueue", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("runs at most `concurrency` jobs at once, the rest in arrival order", async () => {
    const q = new HashQueue({ concurrency: 2 });
    const started: string[] = [];
    const jobs = ["a", "b", "c", "d", "e"].map((n) => gate(started, n));
    const results = jobs.map((j) => q.run({ kind: "k", seedMs: 1, run: j.run }));
    await flush();
    expect(started).toEqual(["a", "b"]);
    expect(q.size).toEqual({ running: 2, waiting: 3 });
    jobs[1]!.open();
    await flush();
    expect(started).toEqual(["a", "b", "c"]);
    jobs[0]!.open();
    await flush();
    expect(started).toEqual(["a", "b", "c", "d"]);
    for (const j of jobs) j.open();
    expect(await Promise.all(results)).toEqual(["a", "b", "c", "d", "e"]);
    expect(q.size).toEqual({ running: 0, waiting: 0 });
  });

  it("refuses at once, as busy, a job that cannot finish before its deadline behind the work ahead", async () => {
    vi.useFakeTimers();
    const q = new HashQueue({ concurrency: 1 });
    const started: string[] = [];
    const [a, b, c] = ["a", "b", "c"].map((n) => gate(started, n));
    const deadline = Date.now() + 250;
    // Estimated 100 ms each: a ends at 100, b at 200, c would end at 300.
    const ra = q.run({ kind: "k", seedMs: 100, deadline, run: a!.run });
    const rb = q.run({ kind: "k", seedMs: 100, deadline, run: b!.run });
    await expect(q.run({ kind: "k", seedMs: 100, deadline, run: c!.run })).rejects.toBeInstanceOf(OverloadedError);
    // No deadline: it simply waits.
    const rd = q.run({ kind: "k", seedMs: 100, run: () => Promise.resolve("d") });
    expect(q.size).toEqual({ running: 1, waiting: 2 });
    a!.open();
    await vi.advanceTimersByTimeAsync(0);
    b!.open();
    expect(await Promise.all([ra, rb, rd])).toEqual(["a", "b", "d"]);
    expect(started).toEqual(["a", "b"]);
  });

  it("refuses a waiting job as busy once it can no longer finish in time, without running it", async () => {
    vi.useFakeTimers();
    const q = new HashQueue({ concurrency: 1 });
    const started: string[] = [];
    const slow = gate(started, "slow");
    const waiting = gate(started, "waiting");
    const rSlow = q.run({ kind: "k", seedMs: 10, run: slow.run });
    const t0 = Date.now();
    const rWaiting = q.run({ kind: "k", seedMs: 10, deadline: t0 + 50, run: waiting.run });
    const refused = rWaiting.catch((e: unknown) => ({ error: e, at: Date.now() - t0 }));
    await vi.advanceTimersByTimeAsync(60);
    const outcome = (await refused) as { error: unknown; at: number };
    expect(outcome.error).toBeInstanceOf(OverloadedError);
    // Refused when only its own estimated cost was left, so the caller can still answer.
    expect(outcome.at).toBe(40);
    expect(q.size).toEqual({ running: 1, waiting: 0 });
    slow.open();
    expect(await rSlow).toBe("slow");
    expect(started).toEqual(["slow"]);
  });

  it("refuses a woken job that can no longer finish in time (its timer late, say behind a blocked event loop)", async () => {
    vi.useFakeTimers();
    const q = new HashQueue({ concurrency: 1 });
    const first = gate([], "first");
    const rFirst = q.run({ kind: "k", seedMs: 10, run: first.run });
    let ran = false;
    const t0 = Date.now();
    const rSecond = q.run({ kind: "k", seedMs: 10, deadline: t0 + 50, run: async () => ((ran = true), "second") });
    // The clock moves past the point where 10 ms no longer fit, but no timer has run yet.
    vi.setSystemTime(t0 + 45);
    first.open();
    expect(await rFirst).toBe("first");
    await expect(rSecond).rejects.toBeInstanceOf(OverloadedError);
    expect(ran).toBe(false);
    expect(q.size).toEqual({ running: 0, waiting: 0 });
  });

  it("an aborted signal takes a job out of the queue with the signal's reason", async () => {
    const q = new HashQueue({ concurrency: 1 });
    const first = gate([], "first");
    const rFirst = q.run({ kind: "k", seedMs: 1, run: first.run });
    const controller = new AbortController();
    let ran = false;
    const rSecond = q.run({ kind: "k", seedMs: 1, signal: controller.signal, run: async () => ((ran = true), "second") });
    controller.abort(new Error("gave up"));
    await expect(rSecond).rejects.toThrow("gave up");
    expect(q.size).toEqual({ running: 1, waiting: 0 });
    first.open();
    await rFirst;
    expect(ran).toBe(false);
    await expect(q.run({ kind: "k", seedMs: 1, signal: controller.signal, run: async () => "x" })).rejects.toThrow("gave up");
  });

  it("learns each kind's cost: the first measurement, then a moving average", async () => {
    vi.useFakeTimers();
    const q = new HashQueue({ concurrency: 1 });
    const sleep = (ms: number) => () => new Promise<void>((r) => setTimeout(r, ms));
    expect(q.estimate("argon2")).toBeUndefined();
    const one = q.run({ kind: "argon2", seedMs: 500, run: sleep(40) });
    await vi.advanceTimersByTimeAsync(40);
    await one;
    expect(q.estimate("argon2")).toBe(40);
    const two = q.run({ kind: "argon2", seedMs: 500, run: sleep(10) });
    await vi.advanceTimersByTimeAsync(10);
    await two;
    expect(q.estimate("argon2")).toBe(32.5);
    expect(q.estimate("bcrypt")).toBeUndefined();
    // A failed job teaches nothing.
    await expect(q.run({ kind: "bcrypt", seedMs: 500, run: () => Promise.reject(new Error("bad hash")) })).rejects.toThrow("bad hash");
    expect(q.estimate("bcrypt")).toBeUndefined();
    expect(q.size).toEqual({ running: 0, waiting: 0 });
  });

  it("starts a job beside others only if its cost plus a margin for variation fits: mean + 4 mean deviations", async () => {
    vi.useFakeTimers();
    const q = new HashQueue({ concurrency: 2 });
    const sleep = (ms: number) => () => new Promise<string>((r) => setTimeout(() => r("done"), ms));
    const first = q.run({ kind: "k", seedMs: 5, run: sleep(40) });
    await vi.advanceTimersByTimeAsync(40);
    await first;
    // Another kind's job keeps the queue busy, so the margin applies to the free slot.
    const busy = gate([], "other");
    const other = q.run({ kind: "other", seedMs: 5, run: busy.run });
    // One measurement: mean 40, deviation 20 (half of it), so 120 ms must fit.
    await expect(q.run({ kind: "k", seedMs: 5, deadline: Date.now() + 100, run: sleep(40) })).rejects.toBeInstanceOf(OverloadedError);
    const fits = q.run({ kind: "k", seedMs: 5, deadline: Date.now() + 130, run: sleep(40) });
    await vi.advanceTimersByTimeAsync(40);
    expect(await fits).toBe("done");
    // Steady measurements shrink the margin: 40 + 4 × 15 = 100 now fits in 101.
    const steady = q.run({ kind: "k", seedMs: 5, deadline: Date.now() + 101, run: sleep(40) });
    await vi.advanceTimersByTimeAsync(40);
    expect(await steady).toBe("done");
    busy.open();
    expect(await other).toBe("other");
  });

  it("starts a job when idle if its first estimate fits, so an estimate a stall inflated comes back down instead of refusing every job", async () => {
    vi.useFakeTimers();
    const q = new HashQueue({ concurrency: 2 });
    const sleep = (ms: number) => () => new Promise<string>((r) => setTimeout(() => r("done"), ms));
    // Two completions seen late (a blocked event loop, say): mean 925, deviation 262.5 after the second.
    for (const ms of [900, 1000]) {
      const slow = q.run({ kind: "argon2", seedMs: 15, run: sleep(ms) });
      await vi.advanceTimersByTimeAsync(ms);
      await slow;
    }
    expect(q.estimate("argon2")).toBe(925);
    // Its worst case (≈ 1.98 s) is past a 1.3 s budget, but nothing runs or waits: it starts.
    const probe = q.run({ kind: "argon2", seedMs: 15, deadline: Date.now() + 1300, run: sleep(15) });
    await vi.advanceTimersByTimeAsync(15);
    expect(await probe).toBe("done");
    expect(q.estimate("argon2")).toBeLessThan(925);
    // Each idle start measures again: the estimate falls until jobs fit beside each other once more.
    for (let i = 0; i < 12; i++) {
      const next = q.run({ kind: "argon2", seedMs: 15, deadline: Date.now() + 1300, run: sleep(15) });
      await vi.advanceTimersByTimeAsync(15);
      await next;
    }
    const hold = gate([], "held");
    const held = q.run({ kind: "argon2", seedMs: 15, run: hold.run });
    const beside = q.run({ kind: "argon2", seedMs: 15, deadline: Date.now() + 1300, run: sleep(15) });
    await vi.advanceTimersByTimeAsync(15);
    expect(await beside).toBe("done");
    hold.open();
    expect(await held).toBe("held");
  });

  it("rejects a concurrency that cannot work, naming the setting and the fix", () => {
    for (const bad of [0, -1, 1.5, Number.NaN, "2"]) {
      expect(() => new HashQueue({ concurrency: bad as number })).toThrow(SetupError);
    }
    expect(() => new HashQueue({ concurrency: 0 })).toThrow(/configurePasswordHashing\(\{ concurrency \}\): must be a whole number/);
    expect(() => new HashQueue({ concurrency: 64 })).toThrow(/threadpool.*Fix: set UV_THREADPOOL_SIZE=65/);
    expect(new HashQueue({ concurrency: 1 }).size).toEqual({ running: 0, waiting: 0 });
  });
});
