import cluster, { type Worker } from "node:cluster";
import { watch as watchFiles, type FSWatcher } from "node:fs";
import { dirname, resolve } from "node:path";
import { spawn, type ChildProcess } from "node:child_process";

import type { NatsApp } from "@natsflow/core";

import { loadApp, UsageError } from "../app-module.js";

export interface RunOptions {
  watch: boolean;
  workers: number;
  envFile: string | undefined;
}

/** A SetupError, by name: the app's copy of @natsflow/core may not be the CLI's. */
function isSetupError(e: unknown): e is Error {
  return e instanceof Error && e.name === "SetupError";
}

/** What a `run` process tells its parent (`--watch`, the cluster primary) once it serves. */
export const READY = { natsflow: "ready" } as const;

const isReady = (m: unknown) => (m as typeof READY | undefined)?.natsflow === READY.natsflow;

/** Tells the parent (over IPC, when there is one) that this process serves. */
function announceReady(): void {
  if (process.connected) process.send?.(READY);
}

/**
 * Calls `stop` when the parent that started this process over IPC (`--watch`, the cluster primary)
 * goes away, killed or crashed: its child must not serve on unsupervised. Returns the undo.
 */
function onParentGone(stop: () => void): () => void {
  const worker = cluster.worker;
  if (worker) {
    const gone = () => {
      // Node's cluster exits a worker at once when its primary dies; marked as deliberate, it lets
      // this one stop gracefully instead (an exit all the same, should that ever change).
      worker.exitedAfterDisconnect = true;
      stop();
    };
    worker.once("disconnect", gone);
    return () => worker.off("disconnect", gone);
  }
  if (!process.channel) return () => undefined;
  process.once("disconnect", stop);
  return () => process.off("disconnect", stop);
}

/**
 * Runs the app until SIGINT/SIGTERM or the parent's death (a graceful stop); a configuration mistake
 * exits 2 with its message. A signal before the app exists takes Node's default (exit at once):
 * nothing has started that would need stopping.
 */
async function serve(spec: string): Promise<number> {
  let app: NatsApp | undefined;
  let parentGone = false;
  const undo = onParentGone(() => {
    parentGone = true;
    void app?.stop();
  });
  try {
    app = await loadApp(spec);
    if (parentGone) return 0;
    const started = app;
    // A signal while it connects is a graceful stop too, never a kill. Removed only once listen()
    // has its own: with no listener in between, Node stops watching the signal and one that has
    // arrived but not yet been dispatched is lost, leaving the app serving after a stop signal.
    const stopEarly = () => void started.stop();
    process.once("SIGINT", stopEarly);
    process.once("SIGTERM", stopEarly);
    let listening: Promise<void> | undefined;
    try {
      await app.start();
      if (!app.isRunning) return 0;
      announceReady();
      listening = app.listen();
    } finally {
      process.off("SIGINT", stopEarly);
      process.off("SIGTERM", stopEarly);
    }
    await listening;
    return 0;
  } catch (e) {
    if (isSetupError(e) || e instanceof UsageError) {
      process.stderr.write(`natsflow: ${e.message}\n`);
      return 2;
    }
    throw e;
  } finally {
    undo();
  }
}

/** `natsflow run <module>[#export]`: one process, N cluster workers sharing its queue groups, or a watch loop. */
export async function run(spec: string, options: RunOptions): Promise<number> {
  if (!Number.isInteger(options.workers) || options.workers < 1) throw new UsageError(`--workers must be a whole number ≥ 1, got ${String(options.workers)}`);
  if (options.envFile) {
    try {
      process.loadEnvFile(options.envFile);
    } catch (e) {
      throw new UsageError(`--env-file ${options.envFile}: ${(e as Error).message}`);
    }
  }
  if (options.watch) return watchLoop(spec, options);
  if (options.workers > 1 && cluster.isPrimary) return primary(options.workers);
  return serve(spec);
}

/**
 * When the cluster primary gives up (exit 1): the 5th worker in a row that exits before it serves
 * (however long each took to fail, so an unreachable server ends it), or the 5th failure within 60 s.
 * The n-th failure within the window is restarted after 0.5 s × 2^(n-1): 0.5, 1, 2, 4 s.
 */
const RESTART_POLICY = { maxFailures: 5, windowMs: 60_000, firstDelayMs: 500 } as const;

/**
 * The cluster primary: N workers run the app (each its own connection, in the same queue groups, so
 * the server splits the messages). One that dies is restarted with backoff, until `RESTART_POLICY`
 * gives up; one that exits 2 (a configuration mistake) stops them all. A signal — or, under
 * `--watch`, the parent's death — stops every worker gracefully at any moment: those serving, those
 * still starting, and the restarts still waiting (cancelled).
 */
function primary(workers: number): Promise<number> {
  return new Promise((done) => {
    const { maxFailures, windowMs, firstDelayMs } = RESTART_POLICY;
    const live = new Set<Worker>();
    const serving = new Set<Worker>();
    const restarts = new Set<NodeJS.Timeout>();
    let stopping = false;
    let code = 0;
    let failures: number[] = [];
    let startFailures = 0;
    let announced = false;

    const settle = () => {
      if (!stopping || live.size > 0) return;
      process.off("SIGINT", stopAll);
      process.off("SIGTERM", stopAll);
      undo();
      done(code);
    };
    function stopAll() {
      if (stopping) return;
      stopping = true;
      for (const timer of restarts) clearTimeout(timer);
      restarts.clear();
      for (const w of live) w.process.kill("SIGTERM");
      settle();
    }
    const giveUp = (exitCode: number, why: string) => {
      process.stderr.write(`natsflow: ${why}; stopping the other workers, exit ${exitCode}\n`);
      code = exitCode;
      stopAll();
    };
    const fork = () => {
      const worker = cluster.fork();
      const pid = worker.process.pid;
      live.add(worker);
      worker.on("message", (m) => {
        if (!isReady(m)) return;
        serving.add(worker);
        startFailures = 0;
        if (!announced && serving.size === workers) {
          announced = true;
          announceReady();
        }
      });
      worker.once("exit", (exitCode, signal) => {
        live.delete(worker);
        const served = serving.delete(worker);
        if (stopping) {
          // Only a worker that served has a stop to fail; one still starting was cut short on purpose.
          if (served && exitCode !== 0) code = Math.max(code, exitCode ?? 1);
          return settle();
        }
        const how = signal ?? `exit ${String(exitCode)}`;
        if (exitCode === 2) return giveUp(2, `worker ${pid} exited 2 (a configuration mistake, which every restart would repeat)`);
        const now = Date.now();
        failures = [...failures.filter((t) => now - t < windowMs), now];
        startFailures = served ? 0 : startFailures + 1;
        if (startFailures >= maxFailures) return giveUp(1, `giving up: ${maxFailures} workers in a row exited before serving (the last: ${how})`);
        if (failures.length >= maxFailures) return giveUp(1, `giving up: ${maxFailures} workers exited within ${windowMs / 1000} s (the last: ${how})`);
        const delay = firstDelayMs * 2 ** (failures.length - 1);
        process.stderr.write(`natsflow: worker ${pid} exited (${how}); starting another in ${delay} ms\n`);
        const timer = setTimeout(() => {
          restarts.delete(timer);
          fork();
        }, delay);
        restarts.add(timer);
      });
    };
    process.once("SIGINT", stopAll);
    process.once("SIGTERM", stopAll);
    const undo = onParentGone(stopAll);
    for (let i = 0; i < workers; i++) fork();
  });
}

/**
 * `--watch`: the app runs in a child process. On a change under the module's directory a new one
 * starts beside it; once it serves (in the same queue groups), the old one stops gracefully (SIGTERM:
 * drain, finish in-flight work), so no request goes unanswered. A new one that fails to start leaves
 * the old one serving. A stop signal stops watching first: nothing starts after it. The children
 * stop by themselves if this process dies (see `onParentGone`).
 */
function watchLoop(spec: string, options: RunOptions): Promise<number> {
  const root = dirname(resolve(spec.replace(/#[^#/]*$/, "")));
  const args = [process.argv[1] as string, "run", spec, "--workers", String(options.workers)];
  return new Promise((done) => {
    let current: ChildProcess | undefined;
    let next: ChildProcess | undefined;
    let stopping = false;
    let pending: NodeJS.Timeout | undefined;
    const launch = () => {
      const child = spawn(process.execPath, args, { stdio: ["inherit", "inherit", "inherit", "ipc"], env: process.env });
      child.on("message", (m) => {
        if (!isReady(m) || child !== next) return;
        const old = current;
        current = child;
        next = undefined;
        old?.kill("SIGTERM");
      });
      child.once("exit", (code) => {
        if (child === next) {
          next = undefined;
          if (!stopping) {
            process.stderr.write(`natsflow: the changed app did not start (exit ${String(code)}); ${current ? "the previous one keeps serving" : "waiting for the next change"}\n`);
          }
        }
        if (child === current) current = undefined;
        if (stopping && !current && !next) done(code ?? 0);
      });
      return child;
    };
    next = launch();
    const watcher: FSWatcher = watchFiles(root, { recursive: true }, (_event, file) => {
      if (stopping || !file || /(^|[/\\])(node_modules|\.git)([/\\]|$)/.test(file)) return;
      // Editors write a file in bursts: one restart per burst.
      clearTimeout(pending);
      pending = setTimeout(() => {
        process.stderr.write("natsflow: change detected; starting the app again\n");
        next?.kill("SIGTERM");
        next = launch();
      }, 150);
    });
    const stop = () => {
      if (stopping) return;
      stopping = true;
      clearTimeout(pending);
      watcher.close();
      for (const child of [current, next]) child?.kill("SIGTERM");
      if (!current && !next) done(0);
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
}
