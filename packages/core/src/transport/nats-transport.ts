/**
 * The only module that imports the `nats` client (v2). A move to the v3 client
 * (`@nats-io/transport-node`) rewrites this file and nothing else.
 */
import {
  connect,
  credsAuthenticator,
  DebugEvents,
  ErrorCode,
  Events,
  headers as natsHeaders,
  type ConnectionOptions as NatsConnectionOptions,
  type KV,
  type KvEntry as NatsKvEntry,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  type NatsError,
} from "nats";

import { ConnectionError, NoRespondersError, RequestTimeoutError, RevisionMismatchError } from "../errors.js";
import { withUrlCredentials } from "./url-credentials.js";
import type {
  ConnectionOptions,
  HeadersInit,
  InboundMessage,
  KvBucket,
  KvBucketOptions,
  KvEntry,
  KvWatchOptions,
  MessageHeaders,
  PublishOptions,
  RequestOptions,
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

function toInbound(msg: Msg): InboundMessage {
  return {
    subject: msg.subject,
    data: msg.data,
    reply: msg.reply || undefined,
    headers: msg.headers ? new HeadersView(msg.headers) : undefined,
  };
}

function toNatsHeaders(init: HeadersInit | undefined): MsgHdrs | undefined {
  if (!init) return undefined;
  const h = natsHeaders();
  for (const [name, value] of Object.entries(init)) {
    for (const v of typeof value === "string" ? [value] : value) h.append(name, v);
  }
  return h;
}

function isNatsError(e: unknown): e is NatsError {
  return e instanceof Error && typeof (e as NatsError).code === "string";
}

// JetStream's "wrong last sequence": a compare-and-set write lost.
const WRONG_LAST_SEQUENCE = 10071;

function toKvEntry(e: NatsKvEntry): KvEntry {
  return { key: e.key, value: e.value, revision: e.revision, operation: e.operation === "PUT" ? "put" : "delete" };
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
    const e = await this.kv.get(key);
    return e && e.operation === "PUT" ? toKvEntry(e) : undefined;
  }

  create(key: string, value: Uint8Array): Promise<number> {
    return this.cas(key, () => this.kv.create(key, value));
  }

  update(key: string, value: Uint8Array, revision: number): Promise<number> {
    return this.cas(key, () => this.kv.update(key, value, revision));
  }

  put(key: string, value: Uint8Array): Promise<number> {
    return this.kv.put(key, value);
  }

  delete(key: string, revision?: number): Promise<void> {
    return this.cas(key, () => this.kv.delete(key, revision !== undefined ? { previousSeq: revision } : {}));
  }

  async watch(onEntry: (entry: KvEntry) => void, options: KvWatchOptions = {}): Promise<() => void> {
    const iter = await this.kv.watch(options.key !== undefined ? { key: options.key } : {});
    let stopped = false;
    void (async () => {
      let error: Error | undefined;
      try {
        for await (const e of iter) onEntry(toKvEntry(e));
      } catch (e) {
        error = e instanceof Error ? e : new Error(String(e));
      }
      if (!stopped) options.onEnd?.(error);
    })();
    return () => {
      stopped = true;
      iter.stop();
    };
  }
}


class NatsTransport implements Transport {
  constructor(private readonly nc: NatsConnection) {}

  subscribe(
    subject: string,
    options: SubscribeOptions,
    onMessage: (message: InboundMessage) => void,
  ): TransportSubscription {
    const sub = this.nc.subscribe(subject, {
      ...(options.queue ? { queue: options.queue } : {}),
      // A callback subscription hands over every message at once; the dispatcher decides concurrency.
      callback: (err, msg) => {
        if (!err) onMessage(toInbound(msg));
      },
    });
    return { subject, unsubscribe: () => sub.unsubscribe() };
  }

  publish(subject: string, data: Uint8Array, options?: PublishOptions): void {
    const h = toNatsHeaders(options?.headers);
    this.nc.publish(subject, data, {
      ...(h ? { headers: h } : {}),
      ...(options?.reply ? { reply: options.reply } : {}),
    });
  }

  async request(subject: string, data: Uint8Array, options: RequestOptions): Promise<InboundMessage> {
    const h = toNatsHeaders(options.headers);
    try {
      const msg = await this.nc.request(subject, data, {
        timeout: options.timeoutMs,
        ...(h ? { headers: h } : {}),
      });
      return toInbound(msg);
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
    const kv = await this.nc.jetstream().views.kv(bucket, {
      history: options.history ?? 1,
      ...(options.ttlMs !== undefined ? { ttl: options.ttlMs } : {}),
    });
    return new NatsKvBucket(bucket, kv);
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
          case Events.Error:
            listener({ type: "error", error: s.data instanceof Error ? s.data : new Error(String(s.data)) });
            break;
          default:
            break;
        }
      }
    })().catch(() => undefined); // the status stream ends with the connection; it must never crash the process
  }
}

export async function connectNats(given: ConnectionOptions): Promise<Transport> {
  const options = withUrlCredentials(given);
  const opts: NatsConnectionOptions = {
    servers: options.servers,
    maxReconnectAttempts: options.maxReconnectAttempts ?? -1,
    // An auth service should be back within moments of its server; the client adds jitter.
    reconnectTimeWait: options.reconnectTimeWaitMs ?? 250,
    ...(options.name !== undefined ? { name: options.name } : {}),
    ...(options.user !== undefined ? { user: options.user } : {}),
    ...(options.pass !== undefined ? { pass: options.pass } : {}),
    ...(options.token !== undefined ? { token: options.token } : {}),
    ...(options.connectTimeoutMs !== undefined ? { timeout: options.connectTimeoutMs } : {}),
    ...(options.tls !== undefined ? { tls: { ...options.tls } } : {}),
    ...(options.creds !== undefined
      ? { authenticator: credsAuthenticator(new TextEncoder().encode(options.creds)) }
      : {}),
  };
  try {
    return new NatsTransport(await connect(opts));
  } catch (e) {
    const servers = Array.isArray(options.servers) ? options.servers.join(", ") : options.servers;
    // The client's message names the failure (refused, authorization violation, …) but never the secret.
    throw new ConnectionError(`cannot connect to NATS at ${servers}: ${(e as Error).message}`, { cause: e });
  }
}
