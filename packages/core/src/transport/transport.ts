import type { SubscriptionError } from "../errors.js";

/**
 * The seam between natsflow and a NATS client. Everything above this file speaks these types;
 * only `nats-transport.ts` knows the `nats` package, so moving to another client touches one file.
 */

/** Read-only view of message headers (NATS headers are case-sensitive, multi-valued). */
export interface MessageHeaders {
  get(name: string): string | undefined;
  values(name: string): string[];
  has(name: string): boolean;
  keys(): string[];
}

/** Headers to send: one value or several per name. */
export type HeadersInit = Record<string, string | readonly string[]>;

export interface InboundMessage {
  readonly subject: string;
  readonly data: Uint8Array;
  /** Reply subject when the sender expects an answer. */
  readonly reply?: string | undefined;
  readonly headers?: MessageHeaders | undefined;
}

export interface PublishOptions {
  headers?: HeadersInit;
  reply?: string;
}

export interface RequestOptions {
  timeoutMs: number;
  headers?: HeadersInit;
}

export interface SubscribeOptions {
  queue?: string | undefined;
  /**
   * Called once when the server ends the subscription (a permissions violation): no message follows,
   * and it is not made again on reconnect.
   */
  onError?: ((error: SubscriptionError) => void) | undefined;
}

export interface TransportSubscription {
  readonly subject: string;
  /** Stop delivery at once: messages the server already sent are dropped (their requesters time out). */
  unsubscribe(): void;
  /**
   * Stop delivery without losing what is on its way: the server is told to stop, and every message it
   * sent before that is still handed to the callback. Resolves when the last one has been.
   */
  drain(): Promise<void>;
}

export type TransportStatus =
  | { type: "disconnect"; server?: string }
  | { type: "reconnect"; server?: string }
  | { type: "reconnecting" }
  | { type: "error"; error: Error };

/** One value of a key-value bucket, as read or watched. */
export interface KvEntry {
  readonly key: string;
  readonly value: Uint8Array;
  /** The bucket-wide sequence of this write: what `update` compares against. */
  readonly revision: number;
  /** "delete" and "purge" entries are tombstones with an empty value; a purge also dropped the key's history. */
  readonly operation: "put" | "delete" | "purge";
  /** When the server stored this write. */
  readonly created: Date;
}

/** How a bucket is made when it does not exist yet; an existing bucket is used as it is. */
export interface KvBucketOptions {
  /** Keys expire this many ms after their last write. Default: never. */
  ttlMs?: number;
  /** Values kept per key. Default 1. */
  history?: number;
  /** Default unlimited. */
  maxBytes?: number;
  /** Default "file". */
  storage?: "file" | "memory";
  /** Default 1. */
  replicas?: number;
}

export interface KvWatchOptions {
  /** A key or a subject-like filter (`users.*`, `>`). Default: every key. */
  key?: string;
  /** Replay the latest entry of every matching key first. Default true; false: only later changes. */
  initial?: boolean;
  /** Called once if the watch ends for any reason other than `stop()`, with the error if there was one. */
  onEnd?: (error: Error | undefined) => void;
}

/**
 * A JetStream key-value bucket. Writes that name a revision are compare-and-set: they fail with
 * `RevisionMismatchError` when someone else wrote the key first.
 */
export interface KvBucket {
  readonly name: string;
  /** The current value, or undefined when the key is absent or deleted. */
  get(key: string): Promise<KvEntry | undefined>;
  /** Writes only if the key is absent or deleted; returns the new revision. */
  create(key: string, value: Uint8Array): Promise<number>;
  /** Writes only if the key's current revision is `revision`; returns the new revision. */
  update(key: string, value: Uint8Array, revision: number): Promise<number>;
  put(key: string, value: Uint8Array): Promise<number>;
  /** Leaves a tombstone; with `revision`, only if the key is still at it. */
  delete(key: string, revision?: number): Promise<void>;
  /** Drops the key's history, leaving one "purge" tombstone. */
  purge(key: string): Promise<void>;
  /** The latest revision written to the bucket (0 when it is empty): watched entries up to it were there before. */
  revision(): Promise<number>;
  /** The keys that have a value (not deleted), matching `filter` (default every key). */
  keys(filter?: string): Promise<string[]>;
  /**
   * Delivers the latest entry of every matching key (tombstones included) unless `initial` is false,
   * then every change, in revision order. Resolves once watching; the function it resolves to stops the watch.
   */
  watch(onEntry: (entry: KvEntry) => void, options?: KvWatchOptions): Promise<() => void>;
}

/** A stream's settings as natsflow declares and compares them (durations in ms). */
export interface StreamConfig {
  name: string;
  subjects: string[];
  retention: "limits" | "interest" | "workqueue";
  storage: "file" | "memory";
  /** 0: kept until a limit removes them. */
  maxAgeMs: number;
  /** Window in which a repeated `Nats-Msg-Id` is stored once. */
  duplicateWindowMs: number;
  /** -1: unlimited. */
  maxMsgs: number;
  /** -1: unlimited. */
  maxBytes: number;
  replicas: number;
  /** Messages kept per subject (a KV bucket's history). -1: unlimited. Compared only when declared. */
  maxMsgsPerSubject?: number;
}

/** What an object store holds about one object. */
export interface ObjectInfo {
  readonly name: string;
  readonly size: number;
  readonly modified: Date;
  readonly digest: string;
}

export interface ObjectStoreBucketOptions {
  /** Default "file". */
  storage?: "file" | "memory";
  /** Objects expire this many ms after they were written. Default: never. */
  ttlMs?: number;
  /** Default unlimited. */
  maxBytes?: number;
  /** Default 1. */
  replicas?: number;
}

/** An object put or deleted, as an object store watch reports it. */
export interface ObjectChange {
  readonly info: ObjectInfo;
  readonly deleted: boolean;
  /** True for the objects that were there when the watch began. */
  readonly initial: boolean;
}

/** A JetStream object store: named blobs, stored in chunks. */
export interface ObjectStoreBucket {
  readonly name: string;
  put(name: string, data: Uint8Array | ReadableStream<Uint8Array>): Promise<ObjectInfo>;
  /** The whole object, or undefined when there is none. */
  get(name: string): Promise<Uint8Array | undefined>;
  info(name: string): Promise<ObjectInfo | undefined>;
  delete(name: string): Promise<void>;
  list(): Promise<ObjectInfo[]>;
  /**
   * Reports every object there now (deleted ones left out) unless `initial` is false, then every put
   * and delete. Resolves once watching; the function it resolves to stops the watch.
   */
  watch(onChange: (change: ObjectChange) => void, options?: { initial?: boolean; onEnd?: (error: Error | undefined) => void }): Promise<() => void>;
}

/** A durable consumer with explicit acks, as natsflow creates and compares it: pull unless `push` is set. */
export interface ConsumerConfig {
  stream: string;
  durable: string;
  filterSubject: string;
  ackWaitMs: number;
  /** The server stops redelivering after this many deliveries. */
  maxDeliver: number;
  /** Server-side redelivery delays; natsflow leaves them empty and naks with its own delays. */
  backoffMs: number[];
  maxAckPending: number;
  /** A push consumer: the server sends to `deliverSubject`, one member of `deliverGroup` gets each message. */
  push?: { deliverSubject: string; deliverGroup: string | undefined };
}

/** Where a consumer starts reading its stream. */
export type StartAt = "first" | "new" | "last" | "last-per-subject" | { sequence: number } | { time: Date };

/** A message delivered by a JetStream consumer: settle it exactly once. */
export interface JetStreamMessage extends InboundMessage {
  readonly stream: string;
  readonly consumer: string;
  /** The message's sequence in its stream. */
  readonly sequence: number;
  /** 1 on the first delivery. */
  readonly deliveries: number;
  ack(): void;
  /** Redeliver, after `delayMs` when given. */
  nak(delayMs?: number): void;
  /** Never redeliver. */
  term(reason?: string): void;
  /** Still working: restarts the ack wait. */
  working(): void;
}

/** One pull request: at most `max` messages, handed over as they arrive. */
export interface JetStreamPull {
  /** Settles when the pull is over: `max` messages came, it expired, or `stop()` was called. */
  readonly done: Promise<void>;
  /** Ends the pull; messages the server still sends for it are redelivered after their ack wait. */
  stop(): void;
}

export interface PullConsumer {
  pull(options: { max: number; expiresMs: number }, onMessage: (message: JetStreamMessage) => void): JetStreamPull;
  /**
   * A standing pull: up to `max` messages asked for at all times, refilled as they arrive, renewed
   * every `expiresMs` (missed heartbeats within it mean the pull is lost, say to a leader change) and
   * re-established after a reconnect. It asks for more than the free slots, so it is only bounded
   * when the consumer's `max_ack_pending` is: the server then never has more out than that.
   */
  consume(options: { max: number; expiresMs: number }, onMessage: (message: JetStreamMessage) => void): JetStreamPull;
}

export interface JetStreamPublishOptions {
  headers?: HeadersInit;
  /** Stored once per stream within its duplicate window. */
  msgId?: string;
  /** The write fails unless these hold. */
  expect?: { lastSequence?: number; stream?: string };
}

/** The stream's acknowledgement of a stored message. */
export interface PubAck {
  readonly stream: string;
  readonly seq: number;
  /** True when the `msgId` was already stored and this publish was dropped. */
  readonly duplicate: boolean;
}

/** JetStream management and publishing. Needs JetStream on the account. */
export interface JetStream {
  /** The stream's settings, or undefined when there is no such stream. */
  streamInfo(name: string): Promise<StreamConfig | undefined>;
  addStream(config: StreamConfig): Promise<void>;
  updateStream(config: StreamConfig): Promise<void>;
  /** The durable's settings, or undefined when it does not exist. */
  consumerInfo(stream: string, durable: string): Promise<ConsumerConfig | undefined>;
  addConsumer(config: ConsumerConfig): Promise<void>;
  updateConsumer(config: ConsumerConfig): Promise<void>;
  /** An existing durable to pull from. */
  consumer(stream: string, durable: string): Promise<PullConsumer>;
  /**
   * Subscribes to an existing durable push consumer (`config.push` set), in its deliver group. The
   * server sends as fast as it can, so only the consumer's `max_ack_pending` bounds what is out.
   * `stop()` drains: messages already sent still reach `onMessage`.
   */
  subscribePush(config: ConsumerConfig, onMessage: (message: JetStreamMessage) => void): JetStreamPull;
  /**
   * An ordered consumer: ephemeral, unacknowledged, every message once in stream order; the client
   * recreates it past a gap (a reconnect, a leader change). Pull from it one pull at a time.
   */
  orderedConsumer(stream: string, options: { filterSubject: string; startAt: StartAt }): Promise<PullConsumer>;
  /** Resolves with the PubAck; rejects with `PubAckError` when the stream refuses or nothing stores it. */
  publish(subject: string, data: Uint8Array, options?: JetStreamPublishOptions): Promise<PubAck>;
}

export interface Transport {
  subscribe(
    subject: string,
    options: SubscribeOptions,
    onMessage: (message: InboundMessage) => void,
  ): TransportSubscription;
  publish(subject: string, data: Uint8Array, options?: PublishOptions): void;
  request(subject: string, data: Uint8Array, options: RequestOptions): Promise<InboundMessage>;
  /** Round trip to the server: every earlier subscription and publish has reached it. */
  flush(): Promise<void>;
  /** Unsubscribe everything, flush what is pending, close: closed when it settles, whatever the server does. */
  drain(): Promise<void>;
  close(): Promise<void>;
  readonly isClosed: boolean;
  /** Resolves when the connection is closed for good, with the error that closed it, if any. */
  closed(): Promise<Error | undefined>;
  onStatus(listener: (status: TransportStatus) => void): void;
  /** Opens a key-value bucket, creating it when missing. Needs JetStream on the account. */
  kv(bucket: string, options?: KvBucketOptions): Promise<KvBucket>;
  /** Opens an object store, creating it when missing. Needs JetStream on the account. */
  objectStore(bucket: string, options?: ObjectStoreBucketOptions): Promise<ObjectStoreBucket>;
  /** JetStream streams, consumers and acknowledged publishing on this connection. */
  jetstream(): JetStream;
}

/** How to reach and authenticate to NATS. */
export interface ConnectionOptions {
  servers: string | string[];
  /** Client name shown in the server's monitoring. */
  name?: string;
  user?: string;
  pass?: string;
  token?: string;
  /** Contents of a `.creds` file (user JWT + seed). */
  creds?: string;
  /** TLS: a CA to trust, and a client certificate for servers that verify clients. Paths or PEM text. */
  tls?: TlsOptions;
  /** Give up connecting at start-up after this many ms. */
  connectTimeoutMs?: number;
  /** -1 (the default) reconnects forever, which suits a long-running service. */
  maxReconnectAttempts?: number;
  reconnectTimeWaitMs?: number;
}

export interface TlsOptions {
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  ca?: string;
  cert?: string;
  key?: string;
}

export type TransportFactory = (options: ConnectionOptions) => Promise<Transport>;
