import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { connect as tcpConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { NatsflowError } from "@natsflow/core";

import { trackChildProcess } from "../processes.js";
import { registerLogSink } from "../secret-scan.js";
import { resolveNatsServer } from "./resolve.js";

export class NatsServerStartError extends NatsflowError {}

/** A nats-server config: an object (written as JSON, which the config format accepts) or raw text. */
export type NatsServerConfig = Record<string, unknown> | string;

export interface StartNatsServerOptions {
  config?: NatsServerConfig;
  /** Verbose server log (`-DV`), handy when a test fails. */
  debug?: boolean;
  /** Give up if the server does not accept connections within this many ms. Default 15 s. */
  startTimeoutMs?: number;
  /** Turn JetStream on, storing in the server's temp dir (removed by `stop`). Accounts still enable it themselves. */
  jetstream?: boolean;
}

const MAX_LOG = 4 * 1024 * 1024;
const running = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort when a test run dies without calling stop(): no orphaned servers.
  process.once("exit", () => {
    for (const child of running) child.kill("SIGKILL");
  });
}

function tcpReady(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A real nats-server on a free loopback port, from a generated config in its own temp dir.
 * The log is captured for assertions and printed by `describe()` when something fails.
 */
export class NatsServer {
  private logText = "";
  private exited: Promise<number | null>;

  private child!: ChildProcess;
  private exitCode: number | null | undefined;

  private constructor(
    private readonly binary: string,
    private readonly args: string[],
    readonly dir: string,
    readonly configFile: string,
  ) {
    this.exited = Promise.resolve(null);
    this.spawn();
  }

  private spawn(): void {
    const child = spawn(this.binary, this.args, { stdio: ["ignore", "pipe", "pipe"] });
    installExitHook();
    running.add(child);
    void trackChildProcess(child, `nats-server ${this.dir}`);
    this.child = child;
    this.exitCode = undefined;
    this.exited = new Promise((resolve) => {
      child.once("exit", (code) => {
        this.exitCode = code;
        running.delete(child);
        resolve(code);
      });
    });
    const capture = (chunk: Buffer) => {
      this.logText += chunk.toString("utf8");
      if (this.logText.length > MAX_LOG) this.logText = this.logText.slice(-MAX_LOG / 2);
    };
    child.stdout?.on("data", capture);
    child.stderr?.on("data", capture);
  }

  port = 0;
  /** Every listener the server reported in its ports file (`nats`, `websocket`, `monitoring`, …). */
  ports: Record<string, string[]> = {};

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** The WebSocket listener's URL, when the config has a `websocket` block. */
  get websocketUrl(): string | undefined {
    return this.ports.websocket?.[0];
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  static async start(options: StartNatsServerOptions = {}): Promise<NatsServer> {
    const { path } = await resolveNatsServer();
    const dir = await mkdtemp(join(tmpdir(), "natsflow-nats-"));
    const configFile = join(dir, "nats-server.conf");
    const jetstream = options.jetstream ? { jetstream: { store_dir: join(dir, "jetstream") } } : {};
    const base = { host: "127.0.0.1", port: -1, ...jetstream };
    const text = typeof options.config === "string"
      ? `host: 127.0.0.1\nport: -1\n${options.jetstream ? `jetstream: ${JSON.stringify(jetstream.jetstream)}\n` : ""}${options.config}\n`
      : JSON.stringify({ ...base, ...(options.config ?? {}) }, null, 2);
    await writeFile(configFile, text, { mode: 0o600 });
    const args = ["-c", configFile, "--ports_file_dir", dir, ...(options.debug ? ["-DV"] : [])];
    const server = new NatsServer(path, args, dir, configFile);
    registerLogSink(`nats-server ${dir}`, () => server.log);
    try {
      server.port = await server.waitForPort(options.startTimeoutMs ?? 15_000);
    } catch (e) {
      await server.stop();
      throw e;
    }
    // Restarts come back on the same port, as a restarted production server would.
    const text2 = await readFile(configFile, "utf8");
    await writeFile(configFile, typeof options.config === "string" ? text2.replace("port: -1", `port: ${server.port}`) : JSON.stringify({ ...JSON.parse(text2), port: server.port }, null, 2));
    return server;
  }

  /** Stops the server (SIGTERM, or SIGKILL with `kill: true`) and waits until it is gone; the dir stays for `start`. */
  async halt(options: { kill?: boolean } = {}): Promise<void> {
    if (this.exitCode !== undefined) return;
    this.child.kill(options.kill ? "SIGKILL" : "SIGTERM");
    await this.exited;
  }

  /** Starts a halted server again, same config and port. */
  async resume(timeoutMs = 15_000): Promise<void> {
    if (this.exitCode === undefined) return;
    for (const f of await readdir(this.dir)) if (f.endsWith(".ports")) await rm(join(this.dir, f), { force: true });
    this.spawn();
    await this.waitForPort(timeoutMs);
  }

  private async waitForPort(timeoutMs: number): Promise<number> {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      if (this.exitCode !== undefined) {
        throw new NatsServerStartError(`nats-server exited (code ${String(this.exitCode)}) during start-up:\n${this.logText}`);
      }
      const file = (await readdir(this.dir)).find((f) => f.endsWith(".ports"));
      if (file) {
        const text = await readFile(join(this.dir, file), "utf8");
        // The server may be midway through writing it: an incomplete file is read again on the next turn.
        let ports: Record<string, string[]> = {};
        try {
          ports = JSON.parse(text) as Record<string, string[]>;
        } catch {
          // not written whole yet
        }
        const port = Number(new URL(ports.nats?.[0] ?? "nats://x:0").port);
        if (port > 0 && (await tcpReady(port))) {
          this.ports = ports;
          return port;
        }
      }
      await sleep(25);
    }
    throw new NatsServerStartError(`nats-server did not accept connections within ${timeoutMs} ms:\n${this.logText}`);
  }

  /** Everything the server has logged so far. */
  get log(): string {
    return this.logText;
  }

  /** Waits until the log has a line matching `pattern`, and returns that line. */
  async waitForLog(pattern: RegExp, timeoutMs = 5000): Promise<string> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const line = this.logText.split("\n").find((l) => pattern.test(l));
      if (line) return line;
      if (Date.now() > until) throw new Error(`server log never matched ${String(pattern)}; log:\n${this.logText.slice(-4000)}`);
      await sleep(20);
    }
  }

  get isRunning(): boolean {
    return this.exitCode === undefined;
  }

  /** SIGTERM, then SIGKILL after `graceMs`; removes the temp dir. Safe to call twice. */
  async stop(graceMs = 5000): Promise<void> {
    if (this.exitCode === undefined) {
      this.child.kill("SIGTERM");
      const timer = setTimeout(() => this.child.kill("SIGKILL"), graceMs);
      await this.exited;
      clearTimeout(timer);
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}

export function startNatsServer(options?: StartNatsServerOptions): Promise<NatsServer> {
  return NatsServer.start(options);
}
