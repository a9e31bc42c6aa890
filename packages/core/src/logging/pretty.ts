import type { DestinationStream } from "pino";

/** pino's numeric levels, as a person reads them. */
const LEVELS: Record<number, string> = { 10: "TRACE", 20: "DEBUG", 30: "INFO", 40: "WARN", 50: "ERROR", 60: "FATAL" };
const COLOURS: Record<number, string> = { 10: "90", 20: "90", 30: "32", 40: "33", 50: "31", 60: "35" };
// Fields every line has, or that the line's own layout shows.
const SHOWN = new Set(["level", "time", "pid", "hostname", "msg", "name"]);

interface Line {
  level: number;
  time: number;
  msg?: string;
  name?: string;
  err?: { type?: string; message?: string; stack?: string };
  [field: string]: unknown;
}

/**
 * pino's JSON lines, written for a person instead (`LOG_FORMAT=pretty`, and `natsflow dev`): one
 * line per event — time, level, the message, then its fields as key=value — the start-up summary as
 * a table of handlers, a handled message as `subject → handler outcome duration`, and an error's
 * stack indented below it. Colours when `colour` is on.
 */
export class PrettyStream implements DestinationStream {
  constructor(
    private readonly out: DestinationStream,
    private readonly colour: boolean,
  ) {}

  write(json: string): void {
    let line: Line;
    try {
      line = JSON.parse(json) as Line;
    } catch {
      this.out.write(json);
      return;
    }
    this.out.write(`${this.format(line)}\n`);
  }

  flush(done?: (err?: Error) => void): void {
    const out = this.out as DestinationStream & { flush?: (done?: (err?: Error) => void) => void };
    if (out.flush) out.flush(done);
    else done?.();
  }

  private paint(code: string, text: string): string {
    return this.colour ? `\u001b[${code}m${text}\u001b[0m` : text;
  }

  format(line: Line): string {
    const time = new Date(line.time).toISOString().slice(11, 23);
    const level = this.paint(COLOURS[line.level] ?? "0", (LEVELS[line.level] ?? String(line.level)).padEnd(5));
    const head = `${this.paint("90", time)} ${level}`;
    if (line.msg === "handled" && typeof line.subject === "string") {
      const failed = line.outcome !== "ok";
      const outcome = this.paint(failed ? "31" : "32", String(line.outcome));
      return `${head} ${line.subject} → ${String(line.handler)} ${outcome} ${this.paint("90", `${String(line.ms)} ms`)}`;
    }
    const rest: string[] = [];
    let table = "";
    for (const [key, value] of Object.entries(line)) {
      if (SHOWN.has(key) || key === "err") continue;
      if (key === "handlers" && Array.isArray(value)) table = this.handlerTable(value as Array<Record<string, unknown>>);
      else rest.push(`${this.paint("36", key)}=${typeof value === "string" ? value : JSON.stringify(value)}`);
    }
    const name = line.name && line.name !== "natsflow" ? `${this.paint("90", `[${line.name}]`)} ` : "";
    let text = `${head} ${name}${line.msg ?? ""}${rest.length > 0 ? ` ${rest.join(" ")}` : ""}`;
    if (line.err) text += `\n${indent(line.err.stack ?? `${line.err.type ?? "Error"}: ${line.err.message ?? ""}`)}`;
    return text + table;
  }

  /** The start-up summary's handlers, one row each. */
  private handlerTable(handlers: Array<Record<string, unknown>>): string {
    if (handlers.length === 0) return "";
    const rows = [["handler", "subject", "queue"], ...handlers.map((h) => [String(h.handler ?? ""), String(h.subject ?? ""), String(h.queue ?? "")])];
    const widths = [0, 1].map((i) => Math.max(...rows.map((r) => (r[i] as string).length)));
    return rows
      .map((r, i) => {
        const text = `  ${(r[0] as string).padEnd(widths[0] as number)}  ${(r[1] as string).padEnd(widths[1] as number)}  ${r[2] as string}`.trimEnd();
        return `\n${i === 0 ? this.paint("90", text) : text}`;
      })
      .join("");
  }
}

function indent(text: string): string {
  return text
    .split("\n")
    .map((l) => `    ${l}`)
    .join("\n");
}
