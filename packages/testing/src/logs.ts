import { createLogger, type Logger } from "@natsflow/core";

import { registerLogSink } from "@natsflow/devkit";

export interface CapturedLogs {
  logger: Logger;
  /** Raw JSON lines, as they would reach stdout. */
  readonly lines: string[];
  /** Parsed entries. */
  entries(): Array<Record<string, unknown>>;
  /** Entries whose `msg` matches. */
  find(msg: RegExp): Array<Record<string, unknown>>;
}

/** A natsflow logger that writes into memory, for asserting on what a service logged. */
export function captureLogs(level = "debug"): CapturedLogs {
  const lines: string[] = [];
  const logger = createLogger({ level }, { write: (line: string) => void lines.push(line) });
  const entries = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  registerLogSink("natsflow logger", () => lines.join(""));
  return {
    logger,
    lines,
    entries,
    find: (msg) => entries().filter((e) => typeof e.msg === "string" && msg.test(e.msg)),
  };
}
