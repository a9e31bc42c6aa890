import { pino, type DestinationStream, type Logger, type LoggerOptions } from "pino";

export type { Logger } from "pino";

/**
 * Secrets that may sit in objects a handler logs. natsflow itself never logs them; this is the
 * safety net for user code (`ctx.logger.info({ connect_opts })` stays safe).
 */
export const REDACTED_PATHS = [
  "pass",
  "password",
  "token",
  "auth_token",
  "seed",
  "jwt",
  "sig",
  "creds",
  "*.pass",
  "*.password",
  "*.token",
  "*.auth_token",
  "*.seed",
  "*.jwt",
  "*.sig",
  "*.creds",
];

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

export function createLogger(options: LoggerOptions = {}, destination?: DestinationStream): Logger {
  const merged: LoggerOptions = {
    name: "natsflow",
    level: process.env.LOG_LEVEL ?? "info",
    redact: { paths: REDACTED_PATHS, censor: "[redacted]" },
    ...options,
  };
  return pino(merged, destination ?? (stdout ??= new BatchedStdout()));
}
