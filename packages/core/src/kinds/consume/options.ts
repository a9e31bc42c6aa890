import { randomUUID } from "node:crypto";

import type { CodecOption } from "../../codec/codec.js";
import { parseDuration, type Duration } from "../../duration.js";
import { SetupError } from "../../errors.js";
import type { MessageFilter } from "../../metadata/handler-metadata.js";
import { resolveStream, type ResolvedStream, type StreamDeclaration } from "../../resources/stream.js";
import { filterCovers, filtersOverlap, isValidJetStreamName, isValidSubject, isValidSubjectFilter } from "../../subjects.js";
import type { ConsumerConfig, StartAt } from "../../transport/transport.js";
import type { StandardSchemaV1 } from "../../validation/standard-schema.js";
import type { SourceSite } from "../kind.js";

/**
 * When a message is acknowledged. "after-success": once the whole chain resolved (errors nak or
 * dead-letter it). "ack-first": before the handler runs, so a failure is never retried (at most once).
 * "manual": the handler settles it through `@Delivery()`; returning without doing so naks it.
 */
export type AckMode = "after-success" | "ack-first" | "manual";

export interface RetryOptions {
  /** Delay before redelivery after the 1st, 2nd, … failure; the last value repeats. Default [1 s, 10 s, 60 s]. */
  backoffMs?: number[];
  /** Deliveries before a failing message is dead-lettered and terminated. Default 5. */
  maxDeliver?: number;
}

interface CommonConsumeOptions {
  stream: StreamDeclaration;
  /** Where messages that will not be retried are published (core NATS), with headers saying why. */
  deadLetter?: string;
  /** How payloads are decoded: "json" (default), "string", "bytes", or your own. */
  codec?: CodecOption;
  /** A Standard Schema the decoded payload must satisfy; an invalid message is terminated and dead-lettered. */
  schema?: StandardSchemaV1;
  /** Larger payloads are terminated and dead-lettered before decoding. */
  maxPayloadBytes?: number;
  /** One line on what the handler does, for its AsyncAPI description. */
  summary?: string;
  /** Which of the durable's messages this handler takes (see `HandlerOptions.filter`); one no handler takes is terminated and dead-lettered. */
  filter?: MessageFilter;
}

/**
 * Settings of the consumer the server keeps, for durable and ephemeral consumers. Those the server
 * cannot change on an existing durable (`startAt`, `replay`, `memoryStorage`, `maxWaiting`) are
 * compared only when declared, and a change is refused at start; the others are updated.
 */
export interface ServerConsumerOptions {
  /** Where a new consumer starts reading the stream. Default "first": the whole stream. */
  startAt?: StartAt;
  /** More subjects (absolute, wildcards allowed) the consumer takes besides the handler's; none may overlap another. */
  filterSubjects?: string[];
  /** Deliver headers only (the payload's size in `Nats-Msg-Size`); needs codec "bytes" or "string". */
  headersOnly?: boolean;
  /** "original": messages come as far apart as they were stored. Default "instant". */
  replay?: "instant" | "original";
  /** Push consumers only: bits per second the server sends at most. */
  rateLimitBps?: number;
  /** Labels kept with the consumer, shown by `nats consumer info`. */
  metadata?: Record<string, string>;
  /** The server removes the consumer once it has been idle this long. Durables: default never; ephemerals: default 5 s. */
  inactiveThreshold?: Duration;
  /** Pull consumers: pull requests waiting at once (the server's default 512). */
  maxWaiting?: number;
  /** Pull consumers: the most messages one pull may ask for; at least `concurrency`. */
  maxBatch?: number;
  /** Pull consumers: the longest a pull may wait; at least 5 s (natsflow's own pulls). */
  maxExpires?: Duration;
  /** Pull consumers: the most bytes one pull may ask for. */
  maxBytes?: number;
  /** Keep the consumer's state in memory instead of on disk. */
  memoryStorage?: boolean;
  /** Replicas of the consumer's state. Default: as many as the stream has. */
  replicas?: number;
  description?: string;
}

/** What a consumer with acks (durable or ephemeral) runs with. */
interface AckedConsumeOptions extends CommonConsumeOptions, ServerConsumerOptions {
  /** Messages handled at once; also the consumer's `max_ack_pending`. Default 64; with `batch`, batches at once, default 1. */
  concurrency?: number;
  /** Hand the handler an array of up to `batch.max` messages (pull only); see `BatchOptions`. */
  batch?: BatchOptions;
  /** Default "after-success". */
  ack?: AckMode;
  /** How long the server waits for an ack before redelivering. Long handlers send `working()` meanwhile. Default 30 s. */
  ackWait?: Duration;
  retry?: RetryOptions;
}

/** A batch consumer's batches: the handler takes up to `max` messages at once (see docs/jetstream.md, "Batch consumers"). */
export interface BatchOptions {
  /** Messages per batch, at most. */
  max: number;
  /** Payload bytes per batch, at most; a larger message goes alone. */
  maxBytes?: number;
  /** How long a batch waits to fill before it goes to the handler with fewer than `max`. Default 1000. */
  expiresMs?: number;
}

/** A durable consumer: instances sharing its name split the messages, each acked after its work. */
export interface DurableConsumeOptions extends AckedConsumeOptions {
  /** The durable consumer's name: instances sharing it split the messages between them. */
  durable: string;
  ephemeral?: false;
  ordered?: false;
  /** Use the existing durable as the server has it (pull or push); never create or update it. Default false. */
  bind?: boolean;
  /**
   * A push consumer instead of pull: the server sends to a deliver subject, one instance of the
   * durable's deliver group (its name) gets each message. Bounded by `max_ack_pending` = concurrency,
   * as pulls are. For consumers shared with push-based services; pull is the better default.
   */
  push?: boolean | { deliverSubject: string };
}

/**
 * An ephemeral pull consumer: each instance creates one of its own at start and reads every message
 * itself, acked as a durable's are; the server removes it once the instance has been gone for
 * `inactiveThreshold`. For work every instance must do (cache invalidation, local projections with acks).
 */
export interface EphemeralConsumeOptions extends AckedConsumeOptions {
  ephemeral: true;
  durable?: undefined;
  ordered?: false;
}

/**
 * An ordered consumer: every instance reads every message once, one at a time in stream order, with
 * no acks and no durable state on the server (for projections and caches rebuilt from a stream).
 * A failed message is logged and dead-lettered, not retried.
 */
export interface OrderedConsumeOptions extends CommonConsumeOptions {
  ordered: true;
  /** Where each start reads from. Default "first": the whole stream. */
  startAt?: StartAt;
}

export type ConsumeOptions = DurableConsumeOptions | EphemeralConsumeOptions | OrderedConsumeOptions;

/** What a `@Consume` handler runs with, checked at `NatsApp.create`. */
export interface ConsumeSpec {
  readonly stream: ResolvedStream;
  /** The durable (or ephemeral consumer) to create or bind; undefined for an ordered consumer. */
  readonly consumer: ConsumerConfig | undefined;
  readonly ordered: { readonly filterSubject: string; readonly startAt: StartAt } | undefined;
  readonly bind: boolean;
  /** "none": an ordered consumer's messages are never settled. */
  readonly ack: AckMode | "none";
  readonly backoffMs: readonly number[];
  readonly deadLetter: string | undefined;
  /** Set for a batch consumer. */
  readonly batch: { readonly max: number; readonly maxBytes: number | undefined; readonly expiresMs: number } | undefined;
}

const ACK_MODES: readonly AckMode[] = ["after-success", "ack-first", "manual"];
const DEFAULT_BACKOFF_MS = [1_000, 10_000, 60_000];
const DEFAULT_MAX_DELIVER = 5;
// Heartbeats go out every third of it; below a second they would be most of the traffic.
const MIN_ACK_WAIT_MS = 1_000;
/** How long one of natsflow's pulls waits at the server for messages before the next one is sent. */
export const PULL_EXPIRES_MS = 5_000;
// The server's own default for an ephemeral consumer.
const EPHEMERAL_INACTIVE_MS = 5_000;

/** What the options are checked against: the handler's name, its compiled subject (the consumer's filter), its concurrency. */
export interface ConsumeSite extends Pick<SourceSite, "name" | "filter" | "concurrency"> {
  /** Whether the handler has a `@Delivery()` parameter. */
  readonly takesDelivery: boolean;
}

const SERVER_OPTIONS = [
  "startAt", "filterSubjects", "headersOnly", "replay", "rateLimitBps", "metadata", "inactiveThreshold",
  "maxWaiting", "maxBatch", "maxExpires", "maxBytes", "memoryStorage", "replicas", "description",
] as const satisfies ReadonlyArray<keyof ServerConsumerOptions>;
const PULL_ONLY = ["maxWaiting", "maxBatch", "maxExpires", "maxBytes"] as const;
const ORDERED_REFUSES = ["durable", "ephemeral", "bind", "push", "concurrency", "ack", "ackWait", "retry", "batch", ...SERVER_OPTIONS.filter((k) => k !== "startAt")] as const;
const DEFAULT_BATCH_EXPIRES_MS = 1_000;

/** Every `@Consume` option and combination is checked here, once, with `SetupError`s naming the setting. */
export function resolveConsumeOptions(options: ConsumeOptions, site: ConsumeSite): ConsumeSpec {
  const { name, filter } = site;
  const stream = resolveStream(options.stream, `${name} stream`);
  if (!stream.config.subjects.some((s) => filterCovers(s, filter))) {
    throw new SetupError(
      `${name} subject`,
      `"${filter}" is not stored by stream ${stream.config.name} (subjects ${stream.config.subjects.join(", ")}).`,
      "consume a subject the stream captures, or add it to the stream's subjects.",
    );
  }
  const deadLetter = resolveDeadLetter(options.deadLetter, site);
  if (options.ordered !== undefined && typeof options.ordered !== "boolean") throw new SetupError(`${name} ordered`, "must be true or false.");
  if (options.ordered) return resolveOrdered(options, site, stream, deadLetter);
  if (options.ephemeral !== undefined && typeof options.ephemeral !== "boolean") throw new SetupError(`${name} ephemeral`, "must be true or false.");
  if (options.ephemeral) {
    if (options.durable !== undefined) throw new SetupError(`${name} ephemeral`, "is a consumer without a durable name, but durable is set.", "drop durable, or drop ephemeral: true.");
    const durableOnly = (["bind", "push"] as const).find((k) => (options as unknown as Record<string, unknown>)[k] !== undefined);
    if (durableOnly) throw new SetupError(`${name} ${durableOnly}`, "is for durable consumers; an ephemeral one is a pull consumer natsflow creates for this instance.", `drop ${durableOnly}, or use a durable.`);
  } else if (!isValidJetStreamName(options.durable)) {
    throw new SetupError(`${name} durable`, `${JSON.stringify(options.durable)} is not a valid consumer name.`, "use letters, digits, - and _ (no dots, wildcards or spaces).");
  }
  const ack = options.ack ?? "after-success";
  if (!ACK_MODES.includes(ack)) throw new SetupError(`${name} ack`, `must be one of ${ACK_MODES.join(", ")}, got ${JSON.stringify(ack)}.`);
  if (ack === "manual" && !site.takesDelivery) {
    throw new SetupError(`${name} ack`, `is "manual" but the handler has no @Delivery() parameter to ack with.`, "add a @Delivery() parameter, or use ack: \"after-success\".");
  }
  if (ack === "ack-first" && options.retry !== undefined) {
    throw new SetupError(`${name} retry`, 'has no effect with ack: "ack-first": the message is acked before the handler runs.', 'drop retry, or use ack: "after-success".');
  }
  const bind = options.ephemeral ? false : (options.bind ?? false);
  if (typeof bind !== "boolean") throw new SetupError(`${name} bind`, "must be true or false.");
  const serverOption = SERVER_OPTIONS.find((k) => options[k] !== undefined);
  if (bind && (options.ackWait !== undefined || options.retry?.maxDeliver !== undefined || serverOption)) {
    throw new SetupError(`${name} bind`, `keeps the consumer's settings as the server has them, so ackWait, retry.maxDeliver and ${serverOption ?? "the consumer's other settings"} cannot be set.`, "drop them, or drop bind: true.");
  }
  const ackWaitMs = parseDuration(`${name} ackWait`, options.ackWait ?? 30_000);
  if (ackWaitMs < MIN_ACK_WAIT_MS) throw new SetupError(`${name} ackWait`, `must be at least ${MIN_ACK_WAIT_MS} ms, got ${ackWaitMs}.`);
  const maxDeliver = options.retry?.maxDeliver ?? DEFAULT_MAX_DELIVER;
  if (!Number.isInteger(maxDeliver) || maxDeliver < 1) {
    throw new SetupError(`${name} retry.maxDeliver`, `must be a whole number ≥ 1 (deliveries, the first included), got ${String(maxDeliver)}.`);
  }
  const backoffMs = options.retry?.backoffMs ?? DEFAULT_BACKOFF_MS;
  if (!Array.isArray(backoffMs) || backoffMs.length === 0 || !backoffMs.every((ms) => Number.isFinite(ms) && ms >= 0)) {
    throw new SetupError(`${name} retry.backoffMs`, "must be a non-empty list of delays in ms ≥ 0 (the last one repeats).", "e.g. [1000, 10000, 60000], or leave it out for that default.");
  }
  const push = options.ephemeral ? undefined : resolvePush(options, site, stream.config.name);
  const batch = resolveBatch(options, site);
  return {
    stream,
    ordered: undefined,
    consumer: {
      stream: stream.config.name,
      // An ephemeral consumer is this instance's own: a name no other instance has.
      durable: options.ephemeral ? `${name.replace(/[^A-Za-z0-9_-]/g, "_")}_${randomUUID().slice(0, 8)}` : options.durable,
      filterSubject: filter,
      ackWaitMs,
      maxDeliver,
      // Redelivery delays are natsflow's naks; a server backoff would also shorten the first ack wait.
      backoffMs: [],
      maxAckPending: batch ? batchMaxAckPending(site.concurrency, batch.max) : site.concurrency,
      ...(push ? { push } : {}),
      ...(options.ephemeral ? { ephemeral: true } : {}),
      ...resolveServerOptions(options, site, stream, push !== undefined, batch ? batchMaxAckPending(site.concurrency, batch.max) : site.concurrency),
    },
    bind,
    ack,
    backoffMs: [...backoffMs],
    deadLetter,
    batch,
  };
}

/** A batch consumer's `max_ack_pending`: its running batches, and one more gathering meanwhile so the handler never waits on the server. */
export function batchMaxAckPending(concurrency: number, max: number): number {
  return (concurrency + 1) * max;
}

function resolveBatch(options: DurableConsumeOptions | EphemeralConsumeOptions, { name }: ConsumeSite): ConsumeSpec["batch"] {
  const { batch } = options;
  if (batch === undefined) return undefined;
  if (typeof batch !== "object" || batch === null) throw new SetupError(`${name} batch`, `must be { max, maxBytes?, expiresMs? }, got ${JSON.stringify(batch)}.`);
  if ("push" in options && options.push) throw new SetupError(`${name} batch`, "needs a pull consumer: a push consumer cannot be asked for a batch.", "drop push, or drop batch.");
  if (options.ack === "ack-first") {
    throw new SetupError(`${name} batch`, 'with ack: "ack-first" is not supported: a batch is settled per message after the handler.', 'use ack: "after-success" (the default) or "manual".');
  }
  if (options.filter !== undefined) {
    throw new SetupError(`${name} batch`, "cannot share its durable through a filter: a batch goes to one handler whole.", "give the batch handler a durable of its own, without filter.");
  }
  const whole = (setting: string, value: unknown, min: number): void => {
    if (!Number.isInteger(value) || (value as number) < min) throw new SetupError(`${name} batch.${setting}`, `must be a whole number ≥ ${min}, got ${String(value)}.`);
  };
  whole("max", batch.max, 1);
  if (batch.maxBytes !== undefined) whole("maxBytes", batch.maxBytes, 1);
  const expiresMs = batch.expiresMs ?? DEFAULT_BATCH_EXPIRES_MS;
  whole("expiresMs", expiresMs, 1);
  return { max: batch.max, maxBytes: batch.maxBytes, expiresMs };
}

function resolveDeadLetter(deadLetter: string | undefined, { name, filter }: ConsumeSite): string | undefined {
  if (deadLetter === undefined) return undefined;
  if (!isValidSubject(deadLetter)) {
    throw new SetupError(`${name} deadLetter`, `${JSON.stringify(deadLetter)} is not a subject to publish to (no wildcards).`, 'e.g. "orders.dlq".');
  }
  if (filterCovers(filter, deadLetter)) {
    throw new SetupError(`${name} deadLetter`, `"${deadLetter}" is consumed by this handler itself, so dead letters would come straight back.`, "use a subject outside its filter.");
  }
  return deadLetter;
}

/** The consumer settings the server keeps, each checked; only those declared are set (an ephemeral's inactive threshold always). */
/** `pulled`: the most messages one of natsflow's own pulls asks for. */
function resolveServerOptions(options: DurableConsumeOptions | EphemeralConsumeOptions, site: ConsumeSite, stream: ResolvedStream, push: boolean, pulled: number): Partial<ConsumerConfig> {
  const { name, filter } = site;
  const out: Partial<ConsumerConfig> = {};
  if (push) {
    const pullOnly = PULL_ONLY.find((k) => options[k] !== undefined);
    if (pullOnly) throw new SetupError(`${name} ${pullOnly}`, "limits what one pull may ask for; a push consumer has no pulls.", `drop ${pullOnly}, or drop push.`);
  }
  if (options.startAt !== undefined) out.startAt = checkStartAt(options.startAt, name);
  if (options.filterSubjects !== undefined) {
    const subjects = checkFilterSubjects(options.filterSubjects, site, stream);
    out.filterSubjects = [filter, ...subjects];
  }
  if (options.headersOnly !== undefined) {
    if (typeof options.headersOnly !== "boolean") throw new SetupError(`${name} headersOnly`, "must be true or false.");
    if (options.headersOnly && ((options.codec !== "bytes" && options.codec !== "string") || options.schema !== undefined)) {
      throw new SetupError(`${name} headersOnly`, "delivers no payload, so there is nothing to decode or validate.", 'use codec: "bytes" (or "string") without a schema, and read the headers with @Headers() or @Msg().');
    }
    if (options.headersOnly) out.headersOnly = true;
  }
  if (options.replay !== undefined) {
    if (options.replay !== "instant" && options.replay !== "original") throw new SetupError(`${name} replay`, `must be "instant" or "original", got ${JSON.stringify(options.replay)}.`);
    out.replay = options.replay;
  }
  if (options.rateLimitBps !== undefined) {
    if (!push) throw new SetupError(`${name} rateLimitBps`, "is for push consumers: the server refuses a rate limit on a pull consumer.", "use push: true, or bound a pull consumer with concurrency.");
    out.rateLimitBps = wholeNumber(`${name} rateLimitBps`, options.rateLimitBps, 1);
  }
  if (options.metadata !== undefined) {
    const m = options.metadata as unknown;
    if (typeof m !== "object" || m === null || Array.isArray(m) || !Object.values(m).every((v) => typeof v === "string")) {
      throw new SetupError(`${name} metadata`, "must be an object of string values.", 'e.g. { team: "billing" }.');
    }
    out.metadata = { ...options.metadata };
  }
  const inactive = options.inactiveThreshold ?? (options.ephemeral ? EPHEMERAL_INACTIVE_MS : undefined);
  if (inactive !== undefined) {
    const ms = parseDuration(`${name} inactiveThreshold`, inactive);
    if (ms <= 0) throw new SetupError(`${name} inactiveThreshold`, "must be longer than 0.", "leave it out for never (durables) or 5 s (ephemerals).");
    out.inactiveThresholdMs = ms;
  }
  if (options.maxWaiting !== undefined) out.maxWaiting = wholeNumber(`${name} maxWaiting`, options.maxWaiting, 1);
  if (options.maxBatch !== undefined) {
    out.maxBatch = wholeNumber(`${name} maxBatch`, options.maxBatch, 1);
    if (out.maxBatch < pulled) {
      throw new SetupError(`${name} maxBatch`, `is ${out.maxBatch}, but natsflow's pulls ask for up to ${pulled} messages (${options.batch ? "(concurrency + 1) × batch.max" : "concurrency"}).`, `raise maxBatch to at least ${pulled}, or lower ${options.batch ? "batch.max or concurrency" : "concurrency"}.`);
    }
  }
  if (options.maxExpires !== undefined) {
    out.maxExpiresMs = parseDuration(`${name} maxExpires`, options.maxExpires);
    if (out.maxExpiresMs < PULL_EXPIRES_MS) {
      throw new SetupError(`${name} maxExpires`, `must be at least ${PULL_EXPIRES_MS / 1_000}s: natsflow's pulls wait that long at the server.`);
    }
  }
  if (options.maxBytes !== undefined) out.maxBytes = wholeNumber(`${name} maxBytes`, options.maxBytes, 1);
  if (options.memoryStorage !== undefined) {
    if (typeof options.memoryStorage !== "boolean") throw new SetupError(`${name} memoryStorage`, "must be true or false.");
    out.memoryStorage = options.memoryStorage;
  }
  if (options.replicas !== undefined) out.replicas = wholeNumber(`${name} replicas`, options.replicas, 1);
  if (options.description !== undefined) {
    if (typeof options.description !== "string") throw new SetupError(`${name} description`, "must be a string.");
    out.description = options.description;
  }
  return out;
}

function wholeNumber(setting: string, value: unknown, min: number): number {
  if (!Number.isInteger(value) || (value as number) < min) throw new SetupError(setting, `must be a whole number ≥ ${min}, got ${String(value)}.`);
  return value as number;
}

/** More filter subjects: each valid, stored by the stream, and overlapping neither the handler's subject nor one another (the server refuses overlaps). */
function checkFilterSubjects(given: unknown, { name, filter }: ConsumeSite, stream: ResolvedStream): string[] {
  const setting = `${name} filterSubjects`;
  if (!Array.isArray(given) || given.length === 0) throw new SetupError(setting, "must be a non-empty list of subjects.", 'e.g. ["orders.cancelled"]; the handler\'s own subject is always one of them.');
  const taken = [filter];
  for (const subject of given as unknown[]) {
    if (typeof subject !== "string" || !isValidSubjectFilter(subject)) throw new SetupError(setting, `${JSON.stringify(subject)} is not a subject or filter.`);
    if (!stream.config.subjects.some((s) => filterCovers(s, subject))) {
      throw new SetupError(setting, `"${subject}" is not stored by stream ${stream.config.name} (subjects ${stream.config.subjects.join(", ")}).`, "name a subject the stream captures.");
    }
    const clash = taken.find((t) => filtersOverlap(t, subject));
    if (clash !== undefined) throw new SetupError(setting, `"${subject}" overlaps "${clash}": a consumer's filter subjects must not overlap.`, "drop one, or narrow it.");
    taken.push(subject);
  }
  return taken.slice(1);
}

function checkStartAt(startAt: StartAt, name: string): StartAt {
  const valid =
    (typeof startAt === "string" && START_AT.includes(startAt)) ||
    (typeof startAt === "object" && startAt !== null &&
      (("sequence" in startAt && Number.isInteger(startAt.sequence) && startAt.sequence >= 1) || ("time" in startAt && startAt.time instanceof Date && !Number.isNaN(startAt.time.getTime()))));
  if (!valid) {
    throw new SetupError(`${name} startAt`, `must be one of ${START_AT.join(", ")}, { sequence: n ≥ 1 } or { time: Date }, got ${JSON.stringify(startAt)}.`);
  }
  return startAt;
}

function resolvePush(options: DurableConsumeOptions, { name }: ConsumeSite, stream: string): ConsumerConfig["push"] {
  const { push } = options;
  if (push === undefined || push === false) return undefined;
  if (options.bind) throw new SetupError(`${name} push`, "is what the bound consumer is, as the server has it.", "drop push; bind: true uses a push consumer as push.");
  if (options.ack === "ack-first") {
    throw new SetupError(`${name} push`, 'with ack: "ack-first" has nothing bounding what the server sends: each message is acked on arrival.', 'use a pull consumer for ack-first, or ack: "after-success".');
  }
  const deliverSubject = push === true ? `_nf.push.${stream}.${options.durable}` : push?.deliverSubject;
  if (typeof deliverSubject !== "string" || !isValidSubject(deliverSubject)) {
    throw new SetupError(`${name} push.deliverSubject`, `must be a subject without wildcards, got ${JSON.stringify(deliverSubject)}.`, "or use push: true for natsflow's own.");
  }
  return { deliverSubject, deliverGroup: options.durable };
}

const START_AT: readonly string[] = ["first", "new", "last", "last-per-subject"];

function resolveOrdered(options: OrderedConsumeOptions, site: ConsumeSite, stream: ResolvedStream, deadLetter: string | undefined): ConsumeSpec {
  const { name, filter } = site;
  const given = ORDERED_REFUSES.find((k) => (options as unknown as Record<string, unknown>)[k] !== undefined);
  if (given) throw new SetupError(`${name} ${given}`, "is for durable and ephemeral consumers; an ordered one has no name, no acks and no redeliveries.", `drop ${given}, or drop ordered: true.`);
  if (site.takesDelivery) throw new SetupError(`${name} @Delivery()`, "has nothing to settle on an ordered consumer.", "read the sequence with @Msg() (a JetStreamMessage), or use a durable.");
  const startAt = checkStartAt(options.startAt ?? "first", name);
  return { stream, consumer: undefined, ordered: { filterSubject: filter, startAt }, bind: false, ack: "none", backoffMs: [], deadLetter, batch: undefined };
}
