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
}

export interface TransportSubscription {
  readonly subject: string;
  /** Stop delivery; messages already handed to the callback keep running. */
  unsubscribe(): void;
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
  /** "delete" entries are tombstones with an empty value. */
  readonly operation: "put" | "delete";
}

/** How a bucket is made when it does not exist yet; an existing bucket is used as it is. */
export interface KvBucketOptions {
  /** Keys expire this many ms after their last write. Default: never. */
  ttlMs?: number;
  /** Values kept per key. Default 1. */
  history?: number;
}

export interface KvWatchOptions {
  /** A key or a subject-like filter (`users.*`, `>`). Default: every key. */
  key?: string;
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
  /**
   * Delivers the latest entry of every matching key (tombstones included), then every change, in
   * revision order. Resolves once watching; the function it resolves to stops the watch.
   */
  watch(onEntry: (entry: KvEntry) => void, options?: KvWatchOptions): Promise<() => void>;
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
