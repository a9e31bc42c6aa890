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
