import cluster from "node:cluster";
import { watch as watchFiles, type FSWatcher } from "node:fs";
import { dirname, resolve } from "node:path";
import { spawn, type ChildProcess } from "node:child_process";

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

/** Runs the app until SIGINT/SIGTERM (a graceful stop); a configuration mistake exits 2 with its message. */
async function serve(spec: string): Promise<number> {
  try {
    const app = await loadApp(spec);
    // A signal while it connects is a graceful stop too, never a kill.
    const stopEarly = () => void app.stop();
    process.once("SIGINT", stopEarly);
    process.once("SIGTERM", stopEarly);
    try {
      await app.start();
    } finally {
      process.off("SIGINT", stopEarly);
      process.off("SIGTERM", stopEarly);
    }
    if (!app.isRunning) return 0;
    process.send?.(READY);
    await app.listen();
    return 0;
  } catch (e) {
    if (isSetupError(e) || e instanceof UsageError) {
      process.stderr.write(`natsflow: ${e.message}\n`);
      return 2;
    }
    throw e;
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
 * The cluster primary: N workers run the app (each its own connection, in the same queue groups, so
 * the server splits the messages); a signal stops them all gracefully; one that dies is restarted.
 */
function primary(workers: number): Promise<number> {
  return new Promise((done) => {
    let stopping = false;
    let worst = 0;
    const fork = () => {
      const worker = cluster.fork();
      worker.on("exit", (code, signal) => {
        if (stopping) {
          worst = Math.max(worst, code ?? (signal ? 1 : 0));
          if (Object.keys(cluster.workers ?? {}).length === 0) done(worst);
        } else if (code === 2) {
          // A configuration mistake: every restart would fail the same way.
          stopping = true;
          worst = 2;
          for (const w of Object.values(cluster.workers ?? {})) w?.process.kill("SIGTERM");
          if (Object.keys(cluster.workers ?? {}).length === 0) done(2);
        } else {
          process.stderr.write(`natsflow: worker ${worker.process.pid} exited (${signal ?? code}); starting another\n`);
          setTimeout(fork, 500).unref();
        }
      });
    };
    for (let i = 0; i < workers; i++) fork();
    const stop = () => {
      stopping = true;
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill("SIGTERM");
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
}

/**
 * `--watch`: the app runs in a child process. On a change under the module's directory a new one
 * starts beside it; once it serves (in the same queue groups), the old one stops gracefully (SIGTERM:
 * drain, finish in-flight work), so no request goes unanswered. A new one that fails to start leaves
 * the old one serving.
 */
function watchLoop(spec: string, options: RunOptions): Promise<number> {
  const root = dirname(resolve(spec.replace(/#[^#/]*$/, "")));
  const args = [process.argv[1] as string, "run", spec, "--workers", String(options.workers)];
  return new Promise((done) => {
    let current: ChildProcess | undefined;
    let stopping = false;
    let pending: NodeJS.Timeout | undefined;
    let watcher: FSWatcher | undefined;
    const launch = () => {
      const child = spawn(process.execPath, args, { stdio: ["inherit", "inherit", "inherit", "ipc"], env: process.env });
      child.on("message", (m) => {
        if ((m as typeof READY | undefined)?.natsflow !== READY.natsflow || child !== next) return;
        const old = current;
        current = child;
        next = undefined;
        old?.kill("SIGTERM");
      });
      child.once("exit", (code) => {
        if (child === next) {
          next = undefined;
          process.stderr.write(`natsflow: the changed app did not start (exit ${String(code)}); ${current ? "the previous one keeps serving" : "waiting for the next change"}\n`);
        }
        if (child === current) current = undefined;
        if (stopping && !current && !next) finish(code ?? 0);
      });
      return child;
    };
    let next: ChildProcess | undefined = launch();
    const finish = (code: number) => {
      watcher?.close();
      done(code);
    };
    watcher = watchFiles(root, { recursive: true }, (_event, file) => {
      if (!file || /(^|[/\\])(node_modules|\.git)([/\\]|$)/.test(file)) return;
      // Editors write a file in bursts: one restart per burst.
      clearTimeout(pending);
      pending = setTimeout(() => {
        process.stderr.write("natsflow: change detected; starting the app again\n");
        next?.kill("SIGTERM");
        next = launch();
      }, 150);
    });
    const stop = () => {
      stopping = true;
      clearTimeout(pending);
      for (const child of [current, next]) child?.kill("SIGTERM");
      if (!current && !next) finish(0);
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
}
