import { randomUUID } from "node:crypto";

import {
  checkBucketName,
  checkJetStreamName,
  checkJetStreamSend,
  checkKvKey,
  checkSend,
  checkSubscription,
  ConnectionError,
  filterCovers,
  NatsflowError,
  type ConsumerConfig,
  NoRespondersError,
  PubAckError,
  RequestTimeoutError,
  RevisionMismatchError,
  SubscriptionError,
  type HeadersInit,
  type InboundMessage,
  type JetStream,
  type JetStreamPublishOptions,
  type KvBucket,
  type KvBucketOptions,
  type KvEntry,
  type KvWatchOptions,
  type ObjectStoreBucket,
  type ObjectStoreBucketOptions,
  type PubAck,
  type PublishOptions,
  type RequestOptions,
  type StreamConfig,
  type TransportSubscribeOptions,
  type Transport,
  type TransportFactory,
  type TransportStatus,
  type TransportSubscription,
} from "@natsflow/core";

import { MemoryStream, type ConsumerState, type StoredMessage } from "./memory-jetstream.js";
import { MemoryObjectStore } from "./memory-object-store.js";
import { Headers, subjectMatches } from "./subjects.js";

export { subjectMatches };

interface Sub {
  filter: string;
  queue: string | undefined;
  deliver: (m: InboundMessage) => void;
  onError: ((error: SubscriptionError) => void) | undefined;
  /** Unsubscribed or closed: messages routed to it but not yet delivered are dropped, as by a client. */
  closed: boolean;
}

const OPERATIONS: Record<string, KvEntry["operation"]> = { DEL: "delete", PURGE: "purge" };
const TOMBSTONES: Record<"delete" | "purge", HeadersInit> = { delete: { "KV-Operation": "DEL" }, purge: { "KV-Operation": "PURGE", "Nats-Rollup": "sub" } };

/** The stream a bucket's `create` makes, as a server's KV client would. */
function kvStreamConfig(bucket: string, o: KvBucketOptions): StreamConfig {
  return {
    name: `KV_${bucket}`,
    subjects: [`$KV.${bucket}.>`],
    retention: "limits",
    storage: o.storage ?? "file",
    maxAgeMs: o.ttlMs ?? 0,
    duplicateWindowMs: Math.min(120_000, o.ttlMs ?? 120_000),
    maxMsgs: -1,
    maxBytes: o.maxBytes ?? -1,
    replicas: o.replicas ?? 1,
    maxMsgsPerSubject: o.history ?? 1,
  };
}

/**
 * A key-value bucket as a view of its stream `KV_<bucket>`, one message per write on `$KV.<bucket>.<key>`
 * (tombstones marked by `KV-Operation`): CAS, history, TTL and watches come from the stream.
 */
class MemoryKvBucket implements KvBucket {
  private readonly prefix: string;

  constructor(
    readonly name: string,
    private readonly stream: MemoryStream,
    private readonly store: (subject: string, data: Uint8Array, options: JetStreamPublishOptions) => PubAck,
  ) {
    this.prefix = `$KV.${name}.`;
  }

  private entry(m: StoredMessage): KvEntry {
    const op = m.headers?.get("KV-Operation");
    return { key: m.subject.slice(this.prefix.length), value: m.data, revision: m.seq, operation: (op && OPERATIONS[op]) || "put", created: m.time };
  }

  /** The live entry of a key, tombstones included. */
  private current(key: string): KvEntry | undefined {
    const m = this.stream.lastOn(this.prefix + key);
    return m && this.entry(m);
  }

  private write(key: string, value: Uint8Array, operation: KvEntry["operation"]): number {
    return this.store(this.prefix + key, value, operation === "put" ? {} : { headers: TOMBSTONES[operation] }).seq;
  }

  async get(key: string): Promise<KvEntry | undefined> {
    checkKvKey(key);
    const e = this.current(key);
    return e?.operation === "put" ? e : undefined;
  }

  async create(key: string, value: Uint8Array): Promise<number> {
    checkKvKey(key);
    if (this.current(key)?.operation === "put") throw new RevisionMismatchError(this.name, key);
    return this.write(key, value, "put");
  }

  async update(key: string, value: Uint8Array, revision: number): Promise<number> {
    checkKvKey(key);
    if (this.current(key)?.revision !== revision) throw new RevisionMismatchError(this.name, key);
    return this.write(key, value, "put");
  }

  async put(key: string, value: Uint8Array): Promise<number> {
    checkKvKey(key);
    return this.write(key, value, "put");
  }

  async delete(key: string, revision?: number): Promise<void> {
    checkKvKey(key);
    if (revision !== undefined && this.current(key)?.revision !== revision) throw new RevisionMismatchError(this.name, key);
    this.write(key, new Uint8Array(), "delete");
  }

  async purge(key: string): Promise<void> {
    checkKvKey(key);
    this.write(key, new Uint8Array(), "purge");
  }

  async revision(): Promise<number> {
    return this.stream.lastSequence;
  }

  async keys(filter = ">"): Promise<string[]> {
    checkKvKey(filter, true);
    return this.stream
      .latest()
      .map((m) => this.entry(m))
      .filter((e) => e.operation === "put" && subjectMatches(filter, e.key))
      .map((e) => e.key);
  }

  async watch(onEntry: (entry: KvEntry) => void, options: KvWatchOptions = {}): Promise<() => void> {
    if (options.key !== undefined) checkKvKey(options.key, true);
    const filter = this.prefix + (options.key ?? ">");
    if (options.initial !== false) {
      const latest = this.stream.latest().filter((m) => subjectMatches(filter, m.subject));
      for (const m of latest.sort((a, b) => a.seq - b.seq)) queueMicrotask(() => onEntry(this.entry(m)));
    }
    return this.stream.onStore((m) => {
      if (subjectMatches(filter, m.subject)) queueMicrotask(() => onEntry(this.entry(m)));
    });
  }
}

/** Consumer settings TestBroker cannot honour are refused, not ignored: a test would pass for the wrong reason. */
function supported(config: ConsumerConfig): ConsumerConfig {
  if (config.replay === "original") throw new NatsflowError('TestBroker does not replay at the original pace (replay: "original"); test it against a nats-server.');
  if (config.rateLimitBps) throw new NatsflowError("TestBroker does not rate-limit push consumers (rateLimitBps); test it against a nats-server.");
  return config;
}

/**
 * An in-process NATS for unit tests: wildcards, queue groups (one member per group gets each
 * message), request/reply and headers. Delivery is asynchronous, as over the wire. Key-value
 * buckets, object stores, JetStream streams and their consumers live here too, shared by every connection.
 */
export class TestBroker {
  private readonly streams = new Map<string, MemoryStream>();
  private readonly objectStores = new Map<string, MemoryObjectStore>();
  // Literal subjects are looked up directly (inboxes make thousands of them); wildcards are scanned.
  private readonly literal = new Map<string, Set<Sub>>();
  private readonly wildcard = new Set<Sub>();
  private readonly denied: string[] = [];

  /** A `TransportFactory` for `NatsApp.create({ transport })`; every connection shares this broker. */
  get transport(): TransportFactory {
    return async () => new MemoryTransport(this);
  }

  connect(): Transport {
    return new MemoryTransport(this);
  }

  /**
   * Refuses subscriptions to subjects `filter` covers, as a server's `subscribe.deny` permission: each
   * one, made now or later, gets a `SubscriptionError` and no more messages.
   */
  denySubscribe(filter: string): void {
    this.denied.push(filter);
    for (const sub of [...this.wildcard, ...[...this.literal.values()].flatMap((set) => [...set])]) this.refuseIfDenied(sub);
  }

  private refuseIfDenied(sub: Sub): void {
    const filter = this.denied.find((f) => filterCovers(f, sub.filter));
    if (filter === undefined) return;
    this.remove(sub);
    sub.closed = true;
    const error = new SubscriptionError(sub.filter, `Permissions Violation for Subscription to "${sub.filter}"`);
    // The server's -ERR arrives after the SUB, never inside it.
    queueMicrotask(() => sub.onError?.(error));
  }

  /** @internal */
  add(sub: Sub): void {
    this.place(sub);
    this.refuseIfDenied(sub);
  }

  private place(sub: Sub): void {
    if (/(^|\.)[*>](\.|$)/.test(sub.filter)) {
      this.wildcard.add(sub);
      return;
    }
    let set = this.literal.get(sub.filter);
    if (!set) this.literal.set(sub.filter, (set = new Set()));
    set.add(sub);
  }

  /** @internal */
  remove(sub: Sub): void {
    if (this.wildcard.delete(sub)) return;
    const set = this.literal.get(sub.filter);
    if (set?.delete(sub) && set.size === 0) this.literal.delete(sub.filter);
  }

  /** @internal A bucket's stream is made from `options` when missing, else used as it is. */
  bucket(name: string, options: KvBucketOptions): MemoryKvBucket {
    const config = kvStreamConfig(name, options);
    let stream = this.streams.get(config.name);
    if (!stream) this.streams.set(config.name, (stream = new MemoryStream(config)));
    return new MemoryKvBucket(name, stream, (subject, data, o) => this.store(subject, data, o));
  }

  /** @internal Made from `options` when missing, else used as it is. */
  objectStore(name: string, options: ObjectStoreBucketOptions): MemoryObjectStore {
    let store = this.objectStores.get(name);
    if (!store) this.objectStores.set(name, (store = new MemoryObjectStore(name, options)));
    return store;
  }

  /** The messages a stream holds now, oldest first. */
  streamMessages(name: string): readonly StoredMessage[] {
    return this.stream(name).messages;
  }

  /** A durable's progress, as a server's consumer info reports it. */
  consumerState(stream: string, durable: string): ConsumerState {
    return this.stream(stream).consumer(durable).state();
  }

  /** The names of the stream's durable and ephemeral consumers. */
  consumerNames(stream: string): string[] {
    return [...this.stream(stream).consumers.keys()];
  }

  /** Removes a stream and its consumers, as an operator might under a running app. */
  deleteStream(name: string): void {
    this.streams.delete(name);
  }

  private stream(name: string): MemoryStream {
    const stream = this.streams.get(name);
    if (!stream) throw new NatsflowError(`stream not found: ${name}`);
    return stream;
  }

  /** @internal */
  captures(subject: string): boolean {
    return [...this.streams.values()].some((s) => s.stores(subject));
  }

  /** @internal Stores a message in the stream that captures its subject, then routes it like any publish. */
  store(subject: string, data: Uint8Array, options: JetStreamPublishOptions = {}): PubAck {
    const stream = [...this.streams.values()].find((s) => s.stores(subject));
    if (!stream) throw new PubAckError(subject, "no stream captures this subject");
    const ack = stream.store(subject, data, options.headers, options);
    if (!ack.duplicate) this.route({ subject, data, headers: options.headers ? new Headers(options.headers) : undefined });
    return ack;
  }

  /** @internal Streams and durable consumers; key-value buckets are streams too. */
  readonly jetstream: JetStream = {
    streamInfo: async (name) => this.streams.get(name)?.config,
    addStream: async (config) => {
      if (!this.streams.has(config.name)) this.streams.set(config.name, new MemoryStream({ ...config, subjects: [...config.subjects] }));
    },
    updateStream: async (config) => {
      this.stream(config.name).config = { ...config, subjects: [...config.subjects] };
    },
    consumerInfo: async (stream, durable) => this.stream(stream).consumers.get(durable)?.config,
    addConsumer: async (config) => this.stream(config.stream).addConsumer(supported(config)),
    updateConsumer: async (config) => this.stream(config.stream).addConsumer(supported(config)),
    consumer: async (stream, durable) => {
      checkJetStreamName("stream name", stream);
      checkJetStreamName("consumer name", durable);
      return this.stream(stream).consumer(durable);
    },
    // Pushed as a standing pull is pulled: only max_ack_pending bounds it.
    subscribePush: (config, onMessage) => this.stream(config.stream).consumer(config.durable).consume({ max: Infinity }, onMessage),
    orderedConsumer: async (stream, options) => this.stream(stream).orderedConsumer(options.filterSubject, options.startAt),
    publish: async (subject, data, options) => {
      checkJetStreamSend(subject, options);
      return this.store(subject, data, options);
    },
  };

  /** Routes a message; returns how many subscriptions received it. */
  route(message: InboundMessage): number {
    const groups = new Map<string, Sub[]>();
    const targets: Sub[] = [];
    const consider = (sub: Sub) => {
      if (sub.queue === undefined) targets.push(sub);
      else groups.set(sub.queue, [...(groups.get(sub.queue) ?? []), sub]);
    };
    for (const sub of this.literal.get(message.subject) ?? []) consider(sub);
    for (const sub of this.wildcard) if (subjectMatches(sub.filter, message.subject)) consider(sub);
    for (const members of groups.values()) targets.push(members[Math.floor(Math.random() * members.length)] as Sub);
    for (const t of targets) queueMicrotask(() => t.closed || t.deliver(message));
    return targets.length;
  }
}

class MemoryTransport implements Transport {
  private readonly mine = new Set<Sub>();
  private closedFlag = false;
  private resolveClosed!: (e: Error | undefined) => void;
  private readonly closedPromise = new Promise<Error | undefined>((r) => (this.resolveClosed = r));

  constructor(private readonly broker: TestBroker) {}

  private check(): void {
    if (this.closedFlag) throw new ConnectionError("connection closed");
  }

  subscribe(subject: string, options: TransportSubscribeOptions, onMessage: (m: InboundMessage) => void): TransportSubscription {
    this.check();
    checkSubscription(subject, options.queue);
    const sub: Sub = { filter: subject, queue: options.queue, deliver: onMessage, onError: options.onError, closed: false };
    this.mine.add(sub);
    this.broker.add(sub);
    const end = () => {
      this.broker.remove(sub);
      this.mine.delete(sub);
    };
    return {
      subject,
      unsubscribe: () => {
        end();
        sub.closed = true;
      },
      drain: async () => {
        end();
        // Routed messages are queued microtasks: all of them run before a macrotask.
        await new Promise((resolve) => setImmediate(resolve));
        sub.closed = true;
      },
    };
  }

  publish(subject: string, data: Uint8Array, options: PublishOptions = {}): void {
    this.check();
    checkSend(subject, options.reply, options.headers);
    // A plain publish to a subject a stream captures is stored too, as on a server.
    if (options.reply === undefined && this.broker.captures(subject)) {
      this.broker.store(subject, data, options.headers ? { headers: options.headers } : {});
      return;
    }
    this.broker.route({
      subject,
      data,
      reply: options.reply,
      headers: options.headers ? new Headers(options.headers) : undefined,
    });
  }

  async request(subject: string, data: Uint8Array, options: RequestOptions): Promise<InboundMessage> {
    this.check();
    checkSend(subject, undefined, options.headers);
    const inbox = `_INBOX.${randomUUID()}`;
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const sub = this.subscribe(inbox, {}, (m) => {
        clearTimeout(timer);
        sub.unsubscribe();
        resolve(m);
      });
      timer = setTimeout(() => {
        sub.unsubscribe();
        reject(new RequestTimeoutError(subject, options.timeoutMs));
      }, options.timeoutMs);
      const delivered = this.broker.route({
        subject,
        data,
        reply: inbox,
        headers: options.headers ? new Headers(options.headers) : undefined,
      });
      if (delivered === 0) {
        clearTimeout(timer);
        sub.unsubscribe();
        reject(new NoRespondersError(subject));
      }
    });
  }

  async flush(): Promise<void> {
    this.check();
  }

  async drain(): Promise<void> {
    await this.close();
  }

  async close(): Promise<void> {
    for (const sub of this.mine) {
      this.broker.remove(sub);
      sub.closed = true;
    }
    this.mine.clear();
    if (!this.closedFlag) {
      this.closedFlag = true;
      this.resolveClosed(undefined);
    }
  }

  get isClosed(): boolean {
    return this.closedFlag;
  }

  closed(): Promise<Error | undefined> {
    return this.closedPromise;
  }

  async kv(bucket: string, options: KvBucketOptions = {}): Promise<KvBucket> {
    this.check();
    checkBucketName(bucket);
    return this.broker.bucket(bucket, options);
  }

  async objectStore(bucket: string, options: ObjectStoreBucketOptions = {}): Promise<ObjectStoreBucket> {
    this.check();
    checkBucketName(bucket);
    return this.broker.objectStore(bucket, options);
  }

  jetstream(): JetStream {
    this.check();
    return this.broker.jetstream;
  }

  onStatus(_listener: (status: TransportStatus) => void): void {
    // An in-process broker never disconnects.
  }
}
