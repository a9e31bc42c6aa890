import { fork, spawn, type ChildProcess, type ForkOptions, type SpawnOptions } from "node:child_process";

import { NatsflowError } from "@natsflow/core";

import { registerLogSink } from "./secret-scan.js";

export class ProcessLeftRunningError extends NatsflowError {}

export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Milliseconds from the first stop signal to the exit, when the process was stopped. */
  stopMs: number | undefined;
}

interface Tracked {
  readonly label: string;
  readonly child: ChildProcess;
  readonly exited: Promise<unknown>;
}

const tracked = new Set<Tracked>();

/** Tracks any child process until it exits, for `processesLeftRunning()`. */
export function trackChildProcess(child: ChildProcess, label: string): Promise<void> {
  const entry: Tracked = { label, child, exited: new Promise<void>((resolve) => child.once("exit", () => resolve())) };
  tracked.add(entry);
  void entry.exited.then(() => tracked.delete(entry));
  return entry.exited as Promise<void>;
}

/**
 * A child process a test started: its output is captured (and scanned for secrets), and it is
 * tracked until it exits, so `processesLeftRunning()` can prove that none outlived its test file.
 */
export class TrackedProcess {
  private text = "";
  private stopSentAt: number | undefined;
  private exitInfo: ProcessExit | undefined;
  /** Resolves when the process has exited, however it ended. */
  readonly exited: Promise<ProcessExit>;

  constructor(
    readonly child: ChildProcess,
    readonly label: string,
  ) {
    trackChildProcess(child, label);
    registerLogSink(label, () => this.text);
    const capture = (chunk: Buffer) => (this.text += chunk.toString("utf8"));
    child.stdout?.on("data", capture);
    child.stderr?.on("data", capture);
    this.exited = new Promise((resolve) => {
      child.once("exit", (code, signal) => {
        this.exitInfo = { code, signal, stopMs: this.stopSentAt === undefined ? undefined : performance.now() - this.stopSentAt };
        resolve(this.exitInfo);
      });
    });
  }

  /** Everything the process wrote to stdout and stderr (when they are pipes). */
  get output(): string {
    return this.text;
  }

  get hasExited(): boolean {
    return this.exitInfo !== undefined;
  }

  /** Waits until the output matches `pattern`; fails early when the process exits first. */
  async waitForOutput(pattern: RegExp, timeoutMs = 10_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (!pattern.test(this.text)) {
      if (this.exitInfo) throw new Error(`${this.label} exited (${String(this.exitInfo.code)}) before printing ${String(pattern)}:\n${this.text.slice(-2000)}`);
      if (Date.now() > until) throw new Error(`${this.label} never printed ${String(pattern)}:\n${this.text.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Sends `signal` (SIGTERM by default) and waits for the exit; no wait for one already gone. */
  stop(signal: NodeJS.Signals = "SIGTERM"): Promise<ProcessExit> {
    if (!this.exitInfo) {
      this.stopSentAt ??= performance.now();
      this.child.kill(signal);
    }
    return this.exited;
  }
}

/** `spawn`, tracked. stdout and stderr are piped unless `stdio` says otherwise. */
export function spawnTracked(command: string, args: string[], options: SpawnOptions & { label?: string } = {}): TrackedProcess {
  const { label, ...rest } = options;
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], ...rest });
  return new TrackedProcess(child, label ?? `${command} ${args.join(" ")}`.slice(0, 120));
}

/** `fork` (a Node.js module with an IPC channel), tracked. */
export function forkTracked(module: string, args: string[], options: ForkOptions & { label?: string } = {}): TrackedProcess {
  const { label, ...rest } = options;
  const child = fork(module, args, { stdio: ["ignore", "pipe", "pipe", "ipc"], ...rest });
  return new TrackedProcess(child, label ?? `node ${module}`);
}

/**
 * Tracked processes that have not exited, after giving them `graceMs` to finish. Those still
 * running are killed (so nothing outlives the run) and returned, for the caller to fail on.
 */
export async function processesLeftRunning(graceMs = 2000): Promise<string[]> {
  const alive = [...tracked];
  if (alive.length === 0) return [];
  await Promise.race([Promise.all(alive.map((p) => p.exited)), new Promise((r) => setTimeout(r, graceMs).unref())]);
  const left = alive.filter((p) => tracked.has(p));
  for (const p of left) p.child.kill("SIGKILL");
  return left.map((p) => `${p.label} (pid ${String(p.child.pid)})`);
}
