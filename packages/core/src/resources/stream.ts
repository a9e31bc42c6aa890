import { SetupError } from "../errors.js";
import type { Logger } from "../logging/logger.js";
import { isValidJetStreamName, isValidSubjectFilter } from "../subjects.js";
import type { JetStream, StreamConfig } from "../transport/transport.js";
import { formatDuration, parseDuration, type Duration } from "../duration.js";
import type { Resource } from "./resource.js";

export interface StreamOptions {
  name: string;
  /** Subjects the stream stores; filters like `orders.events.>` allowed. */
  subjects: string[];
  /** Default "limits". */
  retention?: StreamConfig["retention"];
  /** Default "file". */
  storage?: StreamConfig["storage"];
  /** Default: forever. */
  maxAge?: Duration;
  /** Default 2 minutes, like the server's. */
  duplicateWindow?: Duration;
  /** Default unlimited. */
  maxMsgs?: number;
  /** Default unlimited. */
  maxBytes?: number;
  /** Copies kept in a JetStream cluster, 1 to 5. Default 1. Changed on the server with `update: true`. */
  replicas?: number;
  /** Update an existing stream whose settings differ instead of failing `start`. Default false. */
  update?: boolean;
}

const DECLARATION = Symbol("natsflow:stream");

/** A stream a consumer reads from; created at `start()` when missing, verified when present. */
export interface StreamDeclaration {
  readonly [DECLARATION]: true;
  readonly options: Readonly<StreamOptions>;
}

/** Declares a stream; it is checked when an app using it is created, and made or verified at `start()`. */
export function defineStream(options: StreamOptions): StreamDeclaration {
  return Object.freeze({ [DECLARATION]: true as const, options: Object.freeze({ ...options }) });
}

export interface ResolvedStream {
  readonly config: StreamConfig;
  readonly update: boolean;
}

const RETENTION = ["limits", "interest", "workqueue"];
export const STORAGE = ["file", "memory"];

/** A count setting: a positive integer, or -1 for unlimited. */
export function limit(setting: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || (value < 1 && value !== -1)) throw new SetupError(setting, `must be a positive integer or -1 (unlimited), got ${String(value)}.`);
  return value;
}

/** Copies of a stream kept in a JetStream cluster: 1 to 5, the server's limit. */
export function replicaCount(setting: string, value: number | undefined): number {
  if (value === undefined) return 1;
  if (!Number.isInteger(value) || value < 1 || value > 5) {
    throw new SetupError(setting, `must be a whole number from 1 to 5, got ${String(value)}.`, "use 1 on a single server; 3 (or 5) in a JetStream cluster of at least as many nodes.");
  }
  return value;
}

export function resolveStream(declaration: unknown, where: string): ResolvedStream {
  if (typeof declaration !== "object" || declaration === null || !(DECLARATION in declaration)) {
    throw new SetupError(where, "is not a stream declaration.", "pass the result of defineStream({ name, subjects }).");
  }
  const o = (declaration as StreamDeclaration).options;
  if (!isValidJetStreamName(o.name)) {
    throw new SetupError(`${where} name`, `${JSON.stringify(o.name)} is not a valid stream name.`, "use letters, digits, - and _ (no dots, wildcards or spaces).");
  }
  const at = `stream ${o.name}`;
  if (!Array.isArray(o.subjects) || o.subjects.length === 0 || !o.subjects.every(isValidSubjectFilter)) {
    throw new SetupError(`${at} subjects`, "must be a non-empty list of subjects or filters.", 'e.g. ["orders.events.>"].');
  }
  const retention = o.retention ?? "limits";
  if (!RETENTION.includes(retention)) throw new SetupError(`${at} retention`, `must be one of ${RETENTION.join(", ")}.`);
  const storage = o.storage ?? "file";
  if (!STORAGE.includes(storage)) throw new SetupError(`${at} storage`, `must be one of ${STORAGE.join(", ")}.`);
  if (o.update !== undefined && typeof o.update !== "boolean") throw new SetupError(`${at} update`, "must be true or false.");
  return {
    config: {
      name: o.name,
      subjects: [...o.subjects],
      retention,
      storage,
      maxAgeMs: parseDuration(`${at} maxAge`, o.maxAge ?? 0),
      duplicateWindowMs: parseDuration(`${at} duplicateWindow`, o.duplicateWindow ?? "2m"),
      maxMsgs: limit(`${at} maxMsgs`, o.maxMsgs, -1),
      maxBytes: limit(`${at} maxBytes`, o.maxBytes, -1),
      replicas: replicaCount(`${at} replicas`, o.replicas),
    },
    update: o.update === true,
  };
}

export interface Drift {
  readonly field: keyof StreamConfig;
  readonly server: unknown;
  readonly declared: unknown;
}

/** The declared fields (only those) whose value on the server differs; lists compare as sets. */
export function drift(server: StreamConfig, declared: Partial<StreamConfig>): Drift[] {
  const out: Drift[] = [];
  for (const field of Object.keys(declared) as Array<keyof StreamConfig>) {
    const a = server[field];
    const b = declared[field];
    const same = Array.isArray(a) && Array.isArray(b) ? [...a].sort().join("\u0000") === [...b].sort().join("\u0000") : a === b;
    if (!same) out.push({ field, server: a, declared: b });
  }
  return out;
}

// The declared options behind the fields held in ms: named and shown as declared, not as stored.
const DURATION_OPTIONS: Partial<Record<keyof StreamConfig, string>> = { maxAgeMs: "maxAge", duplicateWindowMs: "duplicateWindow" };

function shown(field: keyof StreamConfig, value: unknown): string {
  return field in DURATION_OPTIONS && typeof value === "number" && value > 0 ? JSON.stringify(formatDuration(value)) : JSON.stringify(value);
}

/** Refuses drift with a `SetupError` naming the first field (as `label` spells it, by default as `defineStream` does) and every difference. */
export function refuseDrift(what: string, diffs: readonly Drift[], fix: string, label: (field: keyof StreamConfig) => string = (f) => DURATION_OPTIONS[f] ?? f): never {
  const described = diffs.map((d) => `${label(d.field)} is ${shown(d.field, d.server)} on the server but declared ${shown(d.field, d.declared)}`).join("; ");
  throw new SetupError(`${what} ${diffs[0] ? label(diffs[0].field) : ""}`, `${described}.`, fix);
}

/** Creates the stream when missing; an existing one must match the declaration, or is updated with `update: true`. */
export async function ensureStream(js: JetStream, stream: ResolvedStream, logger: Logger): Promise<void> {
  const { config } = stream;
  const existing = await js.streamInfo(config.name);
  if (!existing) {
    await js.addStream(config);
    logger.info({ stream: config.name, subjects: config.subjects }, "stream created");
    return;
  }
  const diffs = drift(existing, config);
  if (diffs.length === 0) return;
  if (!stream.update) {
    refuseDrift(`stream ${config.name}`, diffs, "declare what the server has, or pass update: true to defineStream() to update the stream at start.");
  }
  await js.updateStream(config);
  logger.info({ stream: config.name, changed: diffs.map((d) => DURATION_OPTIONS[d.field] ?? d.field) }, "stream updated");
}

/** A stream as a resource: created or verified at start, before the handlers that read or publish to it. */
export function streamResource(stream: ResolvedStream, user: string): Resource {
  return { kind: "stream", name: stream.config.name, user, declared: stream, setup: (transport, logger) => ensureStream(transport.jetstream(), stream, logger) };
}
