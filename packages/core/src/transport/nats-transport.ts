/**
 * The only module that imports the `nats` client (v2). A move to the v3 client
 * (`@nats-io/transport-node`) rewrites this file and nothing else.
 */
import {
  AckPolicy,
  connect,
  consumerOpts,
  credsAuthenticator,
  nkeyAuthenticator,
  DebugEvents,
  DeliverPolicy,
  ErrorCode,
  Events,
  headers as natsHeaders,
  millis,
  nanos,
  ReplayPolicy,
  RetentionPolicy,
  StorageType,
  type Consumer,
  type ConsumerInfo,
  type JetStreamManager,
  type JsMsg,
  type OrderedConsumerOptions,
  type StreamConfig as NatsStreamConfig,
  type ConnectionOptions as NatsConnectionOptions,
  type KV,
  type KvEntry as NatsKvEntry,
  KvWatchInclude,
  type ObjectInfo as NatsObjectInfo,
  type ObjectStore,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  type NatsError,
} from "nats";

import { ConnectionError, NatsflowError, NoRespondersError, PubAckError, RequestTimeoutError, RevisionMismatchError, SubscriptionError } from "../errors.js";
import { checkBucketName, checkJetStreamName, checkJetStreamSend, checkKvKey, checkSend, checkSubscription } from "../subjects.js";
import { withUrlCredentials } from "./url-credentials.js";
import type {
  ConnectionOptions,
  ConsumerConfig,
  HeadersInit,
  InboundMessage,
  JetStream,
  JetStreamMessage,
  JetStreamPublishOptions,
  JetStreamPull,
  KvBucket,
  KvBucketOptions,
  KvEntry,
  KvWatchOptions,
  MessageHeaders,
  ObjectChange,
  ObjectInfo,
  ObjectStoreBucket,
  ObjectStoreBucketOptions,
  PubAck,
  PublishOptions,
  PullConsumer,
  RequestOptions,
  StartAt,
  StreamConfig,
  SubscribeOptions,
  Transport,
  TransportStatus,
  TransportSubscription,
} from "./transport.js";

class HeadersView implements MessageHeaders {
  constructor(private readonly hdrs: MsgHdrs) {}
  get(name: string): string | undefined {
    return this.hdrs.has(name) ? this.hdrs.get(name) : undefined;
  }
  values(name: string): string[] {
    return this.hdrs.values(name);
  }
  has(name: string): boolean {
    return this.hdrs.has(name);
  }
  keys(): string[] {
    return this.hdrs.keys();
  }
}

/**
 * A core message as handlers see it. Its subject, reply subject and headers are decoded from the
 * client's buffers only when read: an event handler that reads none of them pays for none.
 */
class NatsInboundMessage implements InboundMessage {
  private replyText: string | undefined | null = null;
  private headerView: HeadersView | undefined | null = null;

  constructor(private readonly m: Msg) {}

  get subject(): string {
    return this.m.subject;
  }

  get data(): Uint8Array {
    return this.m.data;
  }

  get reply(): string | undefined {
    // The client decodes an empty reply subject again on every read: remember that there is none.
    if (this.replyText === null) this.replyText = this.m.reply || undefined;
    return this.replyText;
  }

  get headers(): HeadersView | undefined {
    if (this.headerView === null) this.headerView = this.m.headers ? new HeadersView(this.m.headers) : undefined;
    return this.headerView;
  }
}

function toNatsHeaders(init: HeadersInit | undefined): MsgHdrs | undefined {
  if (!init) return undefined;
  const h = natsHeaders();
  for (const [name, value] of Object.entries(init)) {
    for (const v of typeof value === "string" ? [value] : value) h.append(name, v);
  }
  return h;
}

/** Runs a watch in the background and returns its stop; `onEnd` hears how it ended unless it was stopped. */
function inBackground<T>(iter: AsyncIterable<T> & { stop(): void }, each: (item: T) => void, onEnd?: (error: Error | undefined) => void): () => void {
  let stopped = false;
  void (async () => {
    let error: Error | undefined;
    try {
      for await (const item of iter) each(item);
    } catch (e) {
      error = e instanceof Error ? e : new Error(String(e));
    }
    if (!stopped) onEnd?.(error);
  })();
  return () => {
    stopped = true;
    iter.stop();
  };
}

function isNatsError(e: unknown): e is NatsError {
  return e instanceof Error && typeof (e as NatsError).code === "string";
}

// JetStream's "wrong last sequence": a compare-and-set write lost.
const WRONG_LAST_SEQUENCE = 10071;

const OPERATIONS = { PUT: "put", DEL: "delete", PURGE: "purge" } as const;

function toKvEntry(e: NatsKvEntry): KvEntry {
  return { key: e.key, value: e.value, revision: e.revision, operation: OPERATIONS[e.operation], created: e.created };
}

class NatsKvBucket implements KvBucket {
  constructor(
    readonly name: string,
    private readonly kv: KV,
  ) {}

  private async cas<T>(key: string, write: () => Promise<T>): Promise<T> {
    try {
      return await write();
    } catch (e) {
      if (isNatsError(e) && e.api_error?.err_code === WRONG_LAST_SEQUENCE) throw new RevisionMismatchError(this.name, key, { cause: e });
      throw e;
    }
  }

  async get(key: string): Promise<KvEntry | undefined> {
    checkKvKey(key);
    const e = await this.kv.get(key);
    return e && e.operation === "PUT" ? toKvEntry(e) : undefined;
  }

  async create(key: string, value: Uint8Array): Promise<number> {
    checkKvKey(key);
    return this.cas(key, () => this.kv.create(key, value));
  }

  async update(key: string, value: Uint8Array, revision: number): Promise<number> {
    checkKvKey(key);
    return this.cas(key, () => this.kv.update(key, value, revision));
  }

  async put(key: string, value: Uint8Array): Promise<number> {
    checkKvKey(key);
    return this.kv.put(key, value);
  }

  async delete(key: string, revision?: number): Promise<void> {
    checkKvKey(key);
    return this.cas(key, () => this.kv.delete(key, revision !== undefined ? { previousSeq: revision } : {}));
  }

  async purge(key: string): Promise<void> {
    checkKvKey(key);
    await this.kv.purge(key);
  }

  async revision(): Promise<number> {
    return (await this.kv.status()).streamInfo.state.last_seq;
  }

  async keys(filter?: string): Promise<string[]> {
    if (filter !== undefined) checkKvKey(filter, true);
    const out: string[] = [];
    for await (const k of await this.kv.keys(filter)) out.push(k);
    return out;
  }

  async watch(onEntry: (entry: KvEntry) => void, options: KvWatchOptions = {}): Promise<() => void> {
    if (options.key !== undefined) checkKvKey(options.key, true);
    // Only changes: from the revision after the last one now, so a write made while the watch's
    // consumer is still being created is not missed (as with "deliver new" it could be).
    const from = options.initial === false ? (await this.revision()) + 1 : undefined;
    const iter = await this.kv.watch({
      ...(options.key !== undefined ? { key: options.key } : {}),
      ...(from !== undefined ? { include: KvWatchInclude.AllHistory, resumeFromRevision: from } : {}),
    });
    return inBackground(iter, (e) => onEntry(toKvEntry(e)), options.onEnd);
  }
}

function toObjectInfo(i: NatsObjectInfo): ObjectInfo {
  return { name: i.name, size: i.size, modified: new Date(i.mtime), digest: i.digest };
}

class NatsObjectStore implements ObjectStoreBucket {
  constructor(
    readonly name: string,
    private readonly os: ObjectStore,
  ) {}

  async put(name: string, data: Uint8Array | ReadableStream<Uint8Array>): Promise<ObjectInfo> {
    return toObjectInfo(data instanceof Uint8Array ? await this.os.putBlob({ name }, data) : await this.os.put({ name }, data));
  }

  async get(name: string): Promise<Uint8Array | undefined> {
    return (await this.os.getBlob(name)) ?? undefined;
  }

  async info(name: string): Promise<ObjectInfo | undefined> {
    const i = await this.os.info(name);
    return i && !i.deleted ? toObjectInfo(i) : undefined;
  }

  async delete(name: string): Promise<void> {
    await this.os.delete(name);
  }

  async list(): Promise<ObjectInfo[]> {
    return (await this.os.list()).filter((i) => !i.deleted).map(toObjectInfo);
  }

  async watch(onChange: (change: ObjectChange) => void, options: { initial?: boolean; onEnd?: (error: Error | undefined) => void } = {}): Promise<() => void> {
    // Always from the current objects: "deliver new" could miss a put made while the watch starts.
    const iter = await this.os.watch({ includeHistory: true });
    let initial = true;
    return inBackground(
      iter,
      (i) => {
        if (i === null) initial = false; // the client's marker: the current objects are all out
        else if (!initial || (options.initial !== false && !i.deleted)) onChange({ info: toObjectInfo(i), deleted: i.deleted, initial });
      },
      options.onEnd,
    );
  }
}

// JetStream API error codes for "no such stream" and "no such consumer".
const STREAM_NOT_FOUND = 10059;
const CONSUMER_NOT_FOUND = 10014;

async function orMissing<T>(code: number, lookup: () => Promise<T>): Promise<T | undefined> {
  try {
    return await lookup();
  } catch (e) {
    if (isNatsError(e) && e.api_error?.err_code === code) return undefined;
    throw e;
  }
}

function toNatsStream(c: StreamConfig): Partial<NatsStreamConfig> {
  return {
    name: c.name,
    subjects: c.subjects,
    retention: c.retention as RetentionPolicy,
    storage: c.storage as StorageType,
    max_age: nanos(c.maxAgeMs),
    duplicate_window: nanos(c.duplicateWindowMs),
    max_msgs: c.maxMsgs,
    max_bytes: c.maxBytes,
    num_replicas: c.replicas,
    ...(c.maxMsgsPerSubject !== undefined ? { max_msgs_per_subject: c.maxMsgsPerSubject } : {}),
  };
}

// What the server cannot change on an existing consumer: left as it is (natsflow refuses a change to it before an update).
const FIXED_CONSUMER_FIELDS = new Set(["durable_name", "name", "ack_policy", "deliver_policy", "opt_start_seq", "opt_start_time", "replay_policy", "mem_storage", "max_waiting"]);

/** The config a consumer is created with; every optional key is present (undefined: the server's default), so an update resets what is no longer declared. */
function toNatsConsumer(c: ConsumerConfig) {
  const several = c.filterSubjects !== undefined && c.filterSubjects.length > 1;
  const metadata = c.metadata && Object.keys(c.metadata).length > 0 ? c.metadata : undefined;
  return {
    ...(c.ephemeral ? { name: c.durable } : { durable_name: c.durable }),
    ack_policy: AckPolicy.Explicit,
    // The server takes one or the other, never both.
    filter_subject: several ? undefined : c.filterSubject,
    filter_subjects: several ? c.filterSubjects : undefined,
    ack_wait: nanos(c.ackWaitMs),
    max_deliver: c.maxDeliver,
    max_ack_pending: c.maxAckPending,
    ...(c.backoffMs.length > 0 ? { backoff: c.backoffMs.map((ms) => nanos(ms)) } : {}),
    ...(c.push ? { deliver_subject: c.push.deliverSubject, ...(c.push.deliverGroup ? { deliver_group: c.push.deliverGroup } : {}) } : {}),
    ...(c.startAt !== undefined ? deliverFrom(c.startAt) : {}),
    ...(c.replay !== undefined ? { replay_policy: c.replay as ReplayPolicy } : {}),
    headers_only: c.headersOnly || undefined,
    rate_limit_bps: c.rateLimitBps || undefined,
    metadata,
    inactive_threshold: c.inactiveThresholdMs ? nanos(c.inactiveThresholdMs) : undefined,
    ...(c.maxWaiting !== undefined ? { max_waiting: c.maxWaiting } : {}),
    max_batch: c.maxBatch || undefined,
    max_expires: c.maxExpiresMs ? nanos(c.maxExpiresMs) : undefined,
    max_bytes: c.maxBytes || undefined,
    ...(c.memoryStorage !== undefined ? { mem_storage: c.memoryStorage } : {}),
    num_replicas: c.replicas || undefined,
    description: c.description || undefined,
  };
}

/** The deliver policy (and start) that says where a consumer starts reading. */
function deliverFrom(startAt: StartAt): { deliver_policy: DeliverPolicy; opt_start_seq?: number; opt_start_time?: string } {
  if (startAt === "first") return { deliver_policy: DeliverPolicy.All };
  if (startAt === "new") return { deliver_policy: DeliverPolicy.New };
  if (startAt === "last") return { deliver_policy: DeliverPolicy.Last };
  if (startAt === "last-per-subject") return { deliver_policy: DeliverPolicy.LastPerSubject };
  if ("sequence" in startAt) return { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: startAt.sequence };
  return { deliver_policy: DeliverPolicy.StartTime, opt_start_time: startAt.time.toISOString() };
}

function startAtOf(c: ConsumerInfo["config"]): StartAt {
  switch (c.deliver_policy) {
    case DeliverPolicy.New:
      return "new";
    case DeliverPolicy.Last:
      return "last";
    case DeliverPolicy.LastPerSubject:
      return "last-per-subject";
    case DeliverPolicy.StartSequence:
      return { sequence: c.opt_start_seq ?? 0 };
    case DeliverPolicy.StartTime:
      return { time: new Date(c.opt_start_time ?? 0) };
    default:
      return "first";
  }
}

function toOrderedOptions(filterSubject: string, startAt: StartAt): Partial<OrderedConsumerOptions> {
  const filter = { filterSubjects: filterSubject };
  // The client starts at sequence 1 by itself; "all" with its start sequence is refused by the server.
  return startAt === "first" ? filter : { ...filter, ...deliverFrom(startAt) };
}

function fromNatsConsumer(stream: string, info: ConsumerInfo): ConsumerConfig {
  const c = info.config;
  const filters = c.filter_subjects ?? [];
  // The server adds metadata of its own (`_nats.…`, from 2.11); natsflow declares only the rest.
  const metadata = Object.fromEntries(Object.entries(c.metadata ?? {}).filter(([k]) => !k.startsWith("_nats.")));
  return {
    stream,
    durable: c.durable_name ?? info.name,
    filterSubject: c.filter_subject ?? filters[0] ?? "",
    ...(filters.length > 1 ? { filterSubjects: filters } : {}),
    ackWaitMs: millis(c.ack_wait ?? 0),
    maxDeliver: c.max_deliver ?? -1,
    backoffMs: (c.backoff ?? []).map((ns) => millis(ns)),
    maxAckPending: c.max_ack_pending ?? -1,
    ...(c.deliver_subject ? { push: { deliverSubject: c.deliver_subject, deliverGroup: c.deliver_group || undefined } } : {}),
    ...(c.durable_name ? {} : { ephemeral: true }),
    startAt: startAtOf(c),
    replay: c.replay_policy === ReplayPolicy.Original ? "original" : "instant",
    headersOnly: c.headers_only ?? false,
    rateLimitBps: c.rate_limit_bps ?? 0,
    metadata,
    inactiveThresholdMs: millis(c.inactive_threshold ?? 0),
    maxWaiting: c.max_waiting ?? 0,
    maxBatch: c.max_batch ?? 0,
    maxExpiresMs: millis(c.max_expires ?? 0),
    maxBytes: c.max_bytes ?? 0,
    memoryStorage: c.mem_storage ?? false,
    replicas: c.num_replicas ?? 0,
    description: c.description ?? "",
  };
}

/**
 * A delivered JetStream message. A class, not a literal: its methods live on the prototype instead
 * of four closures per message, and the delivery info (parsed from the ack subject) only when read.
 */
class NatsJetStreamMessage implements JetStreamMessage {
  readonly subject: string;
  readonly data: Uint8Array;
  // The reply subject is the ack subject: never answered like a request.
  readonly reply = undefined;
  readonly headers: HeadersView | undefined;

  constructor(private readonly m: JsMsg) {
    this.subject = m.subject;
    this.data = m.data;
    this.headers = m.headers ? new HeadersView(m.headers) : undefined;
  }

  get stream(): string {
    return this.m.info.stream;
  }

  get consumer(): string {
    return this.m.info.consumer;
  }

  get sequence(): number {
    return this.m.info.streamSequence;
  }

  get deliveries(): number {
    return this.m.info.deliveryCount;
  }

  ack(): void {
    this.m.ack();
  }

  nak(delayMs?: number): void {
    this.m.nak(delayMs);
  }

  term(reason?: string): void {
    this.m.term(reason);
  }

  working(): void {
    this.m.working();
  }
}

function toJetStreamMessage(m: JsMsg): JetStreamMessage {
  return new NatsJetStreamMessage(m);
}

class NatsPullConsumer implements PullConsumer {
  constructor(
    private readonly consumer: Consumer,
    /** Not for an ordered consumer: it has no limits, and asking for its info would create it outside its own fetch. */
    private readonly limited = true,
  ) {}

  pull(options: { max: number; expiresMs: number }, onMessage: (message: JetStreamMessage) => void): JetStreamPull {
    let iter: Awaited<ReturnType<Consumer["fetch"]>> | undefined;
    let stopped = false;
    const done = (async () => {
      // The server answers a pull beyond the consumer's limits with a 409 the client passes over in silence: an empty fetch.
      const { max_batch: maxBatch = 0, max_expires: maxExpires = 0 } = this.limited ? (await this.consumer.info(true)).config : {};
      if (maxBatch > 0 && options.max > maxBatch) throw new NatsflowError(`exceeded MaxRequestBatch of ${maxBatch}`);
      if (maxExpires > 0 && options.expiresMs > millis(maxExpires)) throw new NatsflowError(`exceeded MaxRequestExpires of ${millis(maxExpires)}ms`);
      iter = await this.consumer.fetch({ max_messages: options.max, expires: options.expiresMs });
      if (stopped) iter.stop();
      for await (const m of iter) onMessage(toJetStreamMessage(m));
    })();
    return {
      done,
      stop: () => {
        stopped = true;
        iter?.stop();
      },
    };
  }

  consume(options: { max: number; expiresMs: number; endIfMissing?: boolean }, onMessage: (message: JetStreamMessage) => void): JetStreamPull {
    let messages: Awaited<ReturnType<Consumer["consume"]>> | undefined;
    let stopped = false;
    const done = (async () => {
      messages = await this.consumer.consume({
        max_messages: options.max,
        expires: options.expiresMs,
        ...(options.endIfMissing ? { abort_on_missing_resource: true } : {}),
        callback: (m) => onMessage(toJetStreamMessage(m)),
      });
      if (stopped) messages.stop();
      const error = await messages.closed();
      if (error) throw error;
    })();
    return {
      done,
      stop: () => {
        stopped = true;
        messages?.stop();
      },
    };
  }
}

class NatsJetStream implements JetStream {
  private jsmPromise: Promise<JetStreamManager> | undefined;

  constructor(private readonly nc: NatsConnection) {}

  private jsm(): Promise<JetStreamManager> {
    return (this.jsmPromise ??= this.nc.jetstreamManager());
  }

  async streamInfo(name: string): Promise<StreamConfig | undefined> {
    const jsm = await this.jsm();
    const info = await orMissing(STREAM_NOT_FOUND, () => jsm.streams.info(name));
    if (!info) return undefined;
    const c = info.config;
    return {
      name: c.name,
      subjects: c.subjects ?? [],
      retention: c.retention,
      storage: c.storage,
      maxAgeMs: millis(c.max_age),
      duplicateWindowMs: millis(c.duplicate_window),
      maxMsgs: c.max_msgs,
      maxBytes: c.max_bytes,
      replicas: c.num_replicas,
      maxMsgsPerSubject: c.max_msgs_per_subject,
    };
  }

  async addStream(config: StreamConfig): Promise<void> {
    await (await this.jsm()).streams.add(toNatsStream(config));
  }

  async updateStream(config: StreamConfig): Promise<void> {
    await (await this.jsm()).streams.update(config.name, toNatsStream(config));
  }

  async consumerInfo(stream: string, durable: string): Promise<ConsumerConfig | undefined> {
    const jsm = await this.jsm();
    const info = await orMissing(CONSUMER_NOT_FOUND, () => jsm.consumers.info(stream, durable));
    return info ? fromNatsConsumer(stream, info) : undefined;
  }

  async addConsumer(config: ConsumerConfig): Promise<void> {
    await (await this.jsm()).consumers.add(config.stream, toNatsConsumer(config));
  }

  async updateConsumer(config: ConsumerConfig): Promise<void> {
    // Undefined values stay as keys: the client merges this into the current config, so they reset what is no longer declared.
    const updatable = Object.fromEntries(Object.entries(toNatsConsumer(config)).filter(([key]) => !FIXED_CONSUMER_FIELDS.has(key)));
    await (await this.jsm()).consumers.update(config.stream, config.durable, { backoff: [], ...updatable });
  }

  async consumer(stream: string, durable: string): Promise<PullConsumer> {
    // Both become tokens of the API subject the client asks on.
    checkJetStreamName("stream name", stream);
    checkJetStreamName("consumer name", durable);
    return new NatsPullConsumer(await this.nc.jetstream().consumers.get(stream, durable));
  }

  subscribePush(config: ConsumerConfig, onMessage: (message: JetStreamMessage) => void): JetStreamPull {
    let sub: Awaited<ReturnType<ReturnType<NatsConnection["jetstream"]>["subscribe"]>> | undefined;
    let stopped = false;
    const done = (async () => {
      const opts = consumerOpts();
      opts.bind(config.stream, config.durable);
      opts.manualAck();
      if (config.push?.deliverGroup) opts.queue(config.push.deliverGroup);
      opts.callback((err, m) => {
        if (!err && m) onMessage(toJetStreamMessage(m));
      });
      sub = await this.nc.jetstream().subscribe(config.filterSubject, opts);
      if (stopped) await sub.drain();
      await sub.closed;
    })();
    return {
      done,
      stop: () => {
        stopped = true;
        // Drained, not unsubscribed: what the server already sent is handed over (and nak'ed) instead of waiting out its ack wait.
        if (sub && !sub.isClosed()) sub.drain().catch(() => undefined);
      },
    };
  }

  async orderedConsumer(stream: string, options: { filterSubject: string; startAt: StartAt }): Promise<PullConsumer> {
    return new NatsPullConsumer(await this.nc.jetstream().consumers.get(stream, toOrderedOptions(options.filterSubject, options.startAt)), false);
  }

  async publish(subject: string, data: Uint8Array, options: JetStreamPublishOptions = {}): Promise<PubAck> {
    checkJetStreamSend(subject, options);
    const h = toNatsHeaders(options.headers);
    const expect = {
      ...(options.expect?.lastSequence !== undefined ? { lastSequence: options.expect.lastSequence } : {}),
      ...(options.expect?.stream !== undefined ? { streamName: options.expect.stream } : {}),
    };
    try {
      const ack = await this.nc.jetstream().publish(subject, data, {
        ...(h ? { headers: h } : {}),
        ...(options.msgId !== undefined ? { msgID: options.msgId } : {}),
        ...(Object.keys(expect).length > 0 ? { expect } : {}),
      });
      return { stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate };
    } catch (e) {
      const reason = isNatsError(e) && e.code === ErrorCode.NoResponders ? "no stream captures this subject" : (e as Error).message;
      throw new PubAckError(subject, reason, { cause: e });
    }
  }
}


class NatsTransport implements Transport {
  private js: NatsJetStream | undefined;

  constructor(private readonly nc: NatsConnection) {}

  subscribe(
    subject: string,
    options: SubscribeOptions,
    onMessage: (message: InboundMessage) => void,
  ): TransportSubscription {
    checkSubscription(subject, options.queue);
    const sub = this.nc.subscribe(subject, {
      ...(options.queue ? { queue: options.queue } : {}),
      // A callback subscription hands over every message at once; the dispatcher decides concurrency.
      callback: (err, msg) => {
        // The client hands a subscription the server refused its error (then closes it), never a message.
        if (err) options.onError?.(new SubscriptionError(subject, err.message, { cause: err }));
        else onMessage(new NatsInboundMessage(msg));
      },
    });
    return {
      subject,
      unsubscribe: () => sub.unsubscribe(),
      // UNSUB, then a flush: whatever the server sent before the UNSUB reaches the callback first.
      drain: async () => {
        if (!sub.isClosed() && !this.nc.isClosed()) await sub.drain();
      },
    };
  }

  publish(subject: string, data: Uint8Array, options?: PublishOptions): void {
    checkSend(subject, options?.reply, options?.headers);
    const h = toNatsHeaders(options?.headers);
    this.nc.publish(subject, data, {
      ...(h ? { headers: h } : {}),
      ...(options?.reply ? { reply: options.reply } : {}),
    });
  }

  async request(subject: string, data: Uint8Array, options: RequestOptions): Promise<InboundMessage> {
    checkSend(subject, undefined, options.headers);
    const h = toNatsHeaders(options.headers);
    try {
      const msg = await this.nc.request(subject, data, {
        timeout: options.timeoutMs,
        ...(h ? { headers: h } : {}),
      });
      return new NatsInboundMessage(msg);
    } catch (e) {
      if (isNatsError(e) && e.code === ErrorCode.Timeout) {
        throw new RequestTimeoutError(subject, options.timeoutMs, { cause: e });
      }
      if (isNatsError(e) && e.code === ErrorCode.NoResponders) {
        throw new NoRespondersError(subject, { cause: e });
      }
      throw e;
    }
  }

  flush(): Promise<void> {
    return this.nc.flush();
  }

  async drain(): Promise<void> {
    try {
      if (!this.nc.isClosed() && !this.nc.isDraining()) await this.nc.drain();
    } finally {
      // The client's drain resolves without closing when its flush fails (the server went away
      // meanwhile); the connection then reconnects forever and keeps the process alive.
      if (!this.nc.isClosed()) await this.nc.close();
    }
  }

  async close(): Promise<void> {
    if (!this.nc.isClosed()) await this.nc.close();
  }

  get isClosed(): boolean {
    return this.nc.isClosed();
  }

  async closed(): Promise<Error | undefined> {
    return (await this.nc.closed()) ?? undefined;
  }

  async kv(bucket: string, options: KvBucketOptions = {}): Promise<KvBucket> {
    checkBucketName(bucket);
    const kv = await this.nc.jetstream().views.kv(bucket, {
      history: options.history ?? 1,
      ...(options.ttlMs !== undefined ? { ttl: options.ttlMs } : {}),
      ...(options.maxBytes !== undefined ? { max_bytes: options.maxBytes } : {}),
      ...(options.storage !== undefined ? { storage: options.storage as StorageType } : {}),
      ...(options.replicas !== undefined ? { replicas: options.replicas } : {}),
    });
    return new NatsKvBucket(bucket, kv);
  }

  async objectStore(bucket: string, options: ObjectStoreBucketOptions = {}): Promise<ObjectStoreBucket> {
    checkBucketName(bucket);
    const os = await this.nc.jetstream().views.os(bucket, {
      ...(options.ttlMs !== undefined ? { ttl: nanos(options.ttlMs) } : {}),
      ...(options.maxBytes !== undefined ? { max_bytes: options.maxBytes } : {}),
      ...(options.storage !== undefined ? { storage: options.storage as StorageType } : {}),
      ...(options.replicas !== undefined ? { replicas: options.replicas } : {}),
    });
    return new NatsObjectStore(bucket, os);
  }

  jetstream(): JetStream {
    return (this.js ??= new NatsJetStream(this.nc));
  }

  onStatus(listener: (status: TransportStatus) => void): void {
    void (async () => {
      for await (const s of this.nc.status()) {
        const server = typeof s.data === "string" ? s.data : undefined;
        switch (s.type) {
          case Events.Disconnect:
            listener({ type: "disconnect", ...(server ? { server } : {}) });
            break;
          case Events.Reconnect:
            listener({ type: "reconnect", ...(server ? { server } : {}) });
            break;
          case DebugEvents.Reconnecting:
            listener({ type: "reconnecting" });
            break;
          case Events.Error: {
            // A permissions violation arrives as a bare code; its context says what was refused.
            const p = s.permissionContext;
            listener({ type: "error", error: new Error(p ? `${String(s.data)}: ${p.operation} to "${p.subject}"` : String(s.data)) });
            break;
          }
          default:
            break;
        }
      }
    })().catch(() => undefined); // the status stream ends with the connection; it must never crash the process
  }
}

/** `o` without its undefined values: the client tells "not given" from undefined for some options. */
function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export async function connectNats(given: ConnectionOptions): Promise<Transport> {
  const options = withUrlCredentials(given);
  const { servers, connectTimeoutMs, reconnectTimeWaitMs, reconnectJitterMs, reconnectJitterTlsMs, pingIntervalMs, creds, nkeySeed, tls, from, ...same } = options;
  const opts: NatsConnectionOptions = {
    ...definedOnly(same),
    servers,
    maxReconnectAttempts: options.maxReconnectAttempts ?? -1,
    // An auth service should be back within moments of its server; the client adds jitter.
    reconnectTimeWait: reconnectTimeWaitMs ?? 250,
    ...definedOnly({ timeout: connectTimeoutMs, reconnectJitter: reconnectJitterMs, reconnectJitterTLS: reconnectJitterTlsMs, pingInterval: pingIntervalMs }),
    ...(tls !== undefined ? { tls: { ...tls } } : {}),
    ...(creds !== undefined ? { authenticator: credsAuthenticator(new TextEncoder().encode(creds)) } : {}),
    ...(nkeySeed !== undefined ? { authenticator: nkeyAuthenticator(new TextEncoder().encode(nkeySeed)) } : {}),
  };
  try {
    return new NatsTransport(await connect(opts));
  } catch (e) {
    const list = Array.isArray(servers) ? servers.join(", ") : servers;
    const source = from?.servers ? ` (${from.servers})` : "";
    // The client's message names the failure (refused, authorization violation, …) but never the secret.
    throw new ConnectionError(`cannot connect to NATS at ${list}${source}: ${(e as Error).message}`, { cause: e });
  }
}
