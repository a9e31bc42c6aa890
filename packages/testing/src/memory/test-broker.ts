import { randomUUID } from "node:crypto";

import {
  ConnectionError,
  NatsflowError,
  NoRespondersError,
  PubAckError,
  RequestTimeoutError,
  RevisionMismatchError,
  type HeadersInit,
  type InboundMessage,
  type JetStream,
  type JetStreamPublishOptions,
  type KvBucket,
  type KvBucketOptions,
  type KvEntry,
  type KvWatchOptions,
  type ObjectStoreBucket,
  type PubAck,
  type PublishOptions,
  type RequestOptions,
  type SubscribeOptions,
  type Transport,
  type TransportFactory,
  type TransportStatus,
  type TransportSubscription,
} from "@natsflow/core";

import { MemoryStream, type ConsumerState, type StoredMessage } from "./memory-jetstream.js";
import { Headers, subjectMatches } from "./subjects.js";

export { subjectMatches };

interface Sub {
  filter: string;
  queue: string | undefined;
  deliver: (m: InboundMessage) => void;
}

interface Stored {
  entry: KvEntry;
  written: number;
}

/** A key-value bucket in memory, shared by every connection of its broker: CAS, tombstones, TTL, watches. */
class MemoryKvBucket implements KvBucket {
  private readonly entries = new Map<string, Stored>();
  private readonly watchers = new Set<{ filter: string; deliver: (e: KvEntry) => void }>();
  private lastRevision = 0;

  constructor(
    readonly name: string,
    /** What the bucket was made with; `update` changes it, as a stream update would. */
    public options: KvBucketOptions,
  ) {}

  private get ttlMs(): number | undefined {
    return this.options.ttlMs;
  }

  /** The live entry of a key, tombstones included; expired keys vanish without notice, as on a server. */
  private current(key: string): KvEntry | undefined {
    const stored = this.entries.get(key);
    if (stored && this.ttlMs !== undefined && Date.now() - stored.written >= this.ttlMs) {
      this.entries.delete(key);
      return undefined;
    }
    return stored?.entry;
  }

  private write(key: string, value: Uint8Array, operation: KvEntry["operation"]): number {
    const entry: KvEntry = { key, value: Uint8Array.from(value), revision: ++this.lastRevision, operation, created: new Date() };
    this.entries.set(key, { entry, written: Date.now() });
    for (const w of this.watchers) if (subjectMatches(w.filter, key)) queueMicrotask(() => w.deliver(entry));
    return entry.revision;
  }

  async get(key: string): Promise<KvEntry | undefined> {
    const e = this.current(key);
    return e?.operation === "put" ? e : undefined;
  }

  async create(key: string, value: Uint8Array): Promise<number> {
    if (this.current(key)?.operation === "put") throw new RevisionMismatchError(this.name, key);
    return this.write(key, value, "put");
  }

  async update(key: string, value: Uint8Array, revision: number): Promise<number> {
    if (this.current(key)?.revision !== revision) throw new RevisionMismatchError(this.name, key);
    return this.write(key, value, "put");
  }

  async put(key: string, value: Uint8Array): Promise<number> {
    return this.write(key, value, "put");
  }

  async delete(key: string, revision?: number): Promise<void> {
    if (revision !== undefined && this.current(key)?.revision !== revision) throw new RevisionMismatchError(this.name, key);
    this.write(key, new Uint8Array(), "delete");
  }

  async purge(key: string): Promise<void> {
    this.write(key, new Uint8Array(), "purge");
  }

  async revision(): Promise<number> {
    return this.lastRevision;
  }

  async keys(filter = ">"): Promise<string[]> {
    return [...this.entries.keys()].filter((k) => subjectMatches(filter, k) && this.current(k)?.operation === "put");
  }

  async watch(onEntry: (entry: KvEntry) => void, options: KvWatchOptions = {}): Promise<() => void> {
    const watcher = { filter: options.key ?? ">", deliver: onEntry };
    if (options.initial !== false) {
      const latest = [...this.entries.keys()].map((k) => this.current(k)).filter((e): e is KvEntry => e !== undefined && subjectMatches(watcher.filter, e.key));
      for (const e of latest.sort((a, b) => a.revision - b.revision)) queueMicrotask(() => onEntry(e));
    }
    this.watchers.add(watcher);
    return () => this.watchers.delete(watcher);
  }
}

/**
 * An in-process NATS for unit tests: wildcards, queue groups (one member per group gets each
 * message), request/reply and headers. Delivery is asynchronous, as over the wire. Key-value
 * buckets, JetStream streams and durable consumers live here too, shared by every connection.
 */
export class TestBroker {
  private readonly buckets = new Map<string, MemoryKvBucket>();
  private readonly streams = new Map<string, MemoryStream>();
  // Literal subjects are looked up directly (inboxes make thousands of them); wildcards are scanned.
  private readonly literal = new Map<string, Set<Sub>>();
  private readonly wildcard = new Set<Sub>();

  /** A `TransportFactory` for `NatsApp.create({ transport })`; every connection shares this broker. */
  get transport(): TransportFactory {
    return async () => new MemoryTransport(this);
  }

  connect(): Transport {
    return new MemoryTransport(this);
  }

  /** @internal */
  add(sub: Sub): void {
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

  /** @internal */
  bucket(name: string, options: KvBucketOptions): MemoryKvBucket {
    let bucket = this.buckets.get(name);
    if (!bucket) this.buckets.set(name, (bucket = new MemoryKvBucket(name, options)));
    return bucket;
  }

  /** The messages a stream holds now, oldest first. */
  streamMessages(name: string): readonly StoredMessage[] {
    return this.stream(name).messages;
  }

  /** A durable's progress, as a server's consumer info reports it. */
  consumerState(stream: string, durable: string): ConsumerState {
    return this.stream(stream).consumer(durable).state();
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

  /** @internal Streams and durable consumers; the streams behind key-value buckets are their buckets. */
  readonly jetstream: JetStream = {
    streamInfo: async (name) => {
      const bucket = name.startsWith("KV_") ? this.buckets.get(name.slice(3)) : undefined;
      if (!bucket) return this.streams.get(name)?.config;
      const o = bucket.options;
      return {
        name,
        subjects: [`$KV.${bucket.name}.>`],
        retention: "limits",
        storage: o.storage ?? "file",
        maxAgeMs: o.ttlMs ?? 0,
        duplicateWindowMs: Math.min(120_000, o.ttlMs ?? 120_000),
        maxMsgs: -1,
        maxBytes: o.maxBytes ?? -1,
        replicas: o.replicas ?? 1,
        maxMsgsPerSubject: o.history ?? 1,
      };
    },
    addStream: async (config) => {
      if (!this.streams.has(config.name)) this.streams.set(config.name, new MemoryStream({ ...config, subjects: [...config.subjects] }));
    },
    updateStream: async (config) => {
      const bucket = config.name.startsWith("KV_") ? this.buckets.get(config.name.slice(3)) : undefined;
      if (!bucket) {
        this.stream(config.name).config = { ...config, subjects: [...config.subjects] };
        return;
      }
      bucket.options = {
        ...(config.maxAgeMs > 0 ? { ttlMs: config.maxAgeMs } : {}),
        maxBytes: config.maxBytes,
        storage: config.storage,
        replicas: config.replicas,
        ...(config.maxMsgsPerSubject !== undefined ? { history: config.maxMsgsPerSubject } : {}),
      };
    },
    consumerInfo: async (stream, durable) => this.stream(stream).consumers.get(durable)?.config,
    addConsumer: async (config) => this.stream(config.stream).addConsumer(config),
    updateConsumer: async (config) => this.stream(config.stream).addConsumer(config),
    consumer: async (stream, durable) => this.stream(stream).consumer(durable),
    publish: async (subject, data, options) => this.store(subject, data, options),
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
    for (const t of targets) queueMicrotask(() => t.deliver(message));
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

  subscribe(subject: string, options: SubscribeOptions, onMessage: (m: InboundMessage) => void): TransportSubscription {
    this.check();
    const sub: Sub = { filter: subject, queue: options.queue, deliver: onMessage };
    this.broker.add(sub);
    this.mine.add(sub);
    return {
      subject,
      unsubscribe: () => {
        this.broker.remove(sub);
        this.mine.delete(sub);
      },
    };
  }

  publish(subject: string, data: Uint8Array, options: PublishOptions = {}): void {
    this.check();
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

  request(subject: string, data: Uint8Array, options: RequestOptions): Promise<InboundMessage> {
    this.check();
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
    for (const sub of this.mine) this.broker.remove(sub);
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
    return this.broker.bucket(bucket, options);
  }

  async objectStore(): Promise<ObjectStoreBucket> {
    throw new NatsflowError("Object stores are not modelled by TestBroker yet: test them against startNatsServer({ jetstream: true })");
  }

  jetstream(): JetStream {
    this.check();
    return this.broker.jetstream;
  }

  onStatus(_listener: (status: TransportStatus) => void): void {
    // An in-process broker never disconnects.
  }
}
