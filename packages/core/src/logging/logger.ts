import { pino, type DestinationStream, type Logger, type LoggerOptions } from "pino";

import { SetupError } from "../errors.js";
import { PrettyStream } from "./pretty.js";

export type { Logger } from "pino";

/**
 * Field names whose values may be secrets. natsflow itself never logs them; this is the safety net
 * for user code: `ctx.logger.info({ connect_opts })` stays safe. Checked at the top level of a logged
 * object and one level down.
 */
export const REDACTED_KEYS: readonly string[] = ["pass", "password", "token", "auth_token", "seed", "jwt", "sig", "creds"];
const SECRET = new Set(REDACTED_KEYS);
const CENSOR = "[redacted]";

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Error);
}

function censored(o: Record<string, unknown>): Record<string, unknown> | undefined {
  let copy: Record<string, unknown> | undefined;
  for (const key in o) if (SECRET.has(key) && Object.hasOwn(o, key)) (copy ??= { ...o })[key] = CENSOR;
  return copy;
}

/**
 * Replaces pino's `redact`, which on every line walks each path pattern (`*.pass`, …) through the
 * object: this looks each key up once and copies only an object that holds a secret.
 */
function redactSecrets(obj: Record<string, unknown>): Record<string, unknown> {
  let out = censored(obj) ?? obj;
  for (const key in out) {
    const value = out[key];
    if (!isPlainObject(value)) continue;
    const inner = censored(value);
    if (inner) (out === obj ? (out = { ...obj }) : out)[key] = inner;
  }
  return out;
}

/**
 * Standard output, one write per turn of the event loop instead of one per line: under load a
 * service logs a decision per request, and a write system call each costs more than the line.
 * Lines still leave within the same turn, synchronously (so nothing is lost to a crash), and
 * whatever is pending is written when the process exits.
 */
class BatchedStdout implements DestinationStream {
  private pending: string[] = [];
  private scheduled = false;
  private readonly out = pino.destination({ dest: 1, sync: true });

  constructor() {
    process.once("exit", () => this.flush());
  }

  write(line: string): void {
    this.pending.push(line);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Writes what is pending now; `logger.flush(cb)` lands here. */
  flush(done?: (err?: Error) => void): void {
    this.scheduled = false;
    if (this.pending.length > 0) {
      const text = this.pending.length === 1 ? (this.pending[0] as string) : this.pending.join("");
      this.pending = [];
      this.out.write(text);
    }
    done?.();
  }
}

let stdout: BatchedStdout | undefined;
let pretty: PrettyStream | undefined;

/** Where lines go by default: JSON to standard output, or, with `LOG_FORMAT=pretty`, lines for a person. */
function defaultDestination(): DestinationStream {
  const format = process.env.LOG_FORMAT ?? "json";
  if (format !== "json" && format !== "pretty") throw new SetupError("LOG_FORMAT", `must be json or pretty, got ${JSON.stringify(format)}.`);
  stdout ??= new BatchedStdout();
  if (format === "json") return stdout;
  // Colours for a terminal, unless NO_COLOR says otherwise; FORCE_COLOR for a pipe that shows them.
  const colour = process.env.NO_COLOR === undefined && (process.env.FORCE_COLOR !== undefined || process.stdout.isTTY === true);
  return (pretty ??= new PrettyStream(stdout, colour));
}

export function createLogger(options: LoggerOptions = {}, destination?: DestinationStream): Logger {
  const merged: LoggerOptions = {
    name: "natsflow",
    level: process.env.LOG_LEVEL ?? "info",
    formatters: { log: redactSecrets },
    ...options,
  };
  return pino(merged, destination ?? defaultDestination());
}
