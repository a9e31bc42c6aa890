import { jsonCodec, resolveCodec, type Codec, type CodecOption } from "../codec/codec.js";
import { SERVICE_ERROR_CODE_HEADER, SERVICE_ERROR_HEADER } from "../dispatch/error-reply.js";
import { ServiceError } from "../errors.js";
import { Tracing } from "../observability/tracing.js";
import { RESOLVED } from "../resolved.js";
import type { HeadersInit, InboundMessage, JetStreamPublishOptions, KvBucket, KvBucketOptions, PubAck, Transport } from "../transport/transport.js";
import { Outgoing, prepare, type OutgoingChain, type OutgoingMiddleware } from "./outgoing.js";
import { consumeFrom, fetchFrom, type ConsumeLoopOptions, type FetchOptions, type PulledMessage, type PulledMessages } from "./pull.js";

const encoder = new TextEncoder();

export type Payload = Uint8Array | string | object | number | boolean | null;

/** Bytes pass through, strings are UTF-8, everything else is JSON: plain payloads any client can read. */
export function encodePayload(payload: Payload): Uint8Array {
  if (payload instanceof Uint8Array) return payload;
  if (typeof payload === "string") return encoder.encode(payload);
  return jsonCodec.encode(payload);
}

export interface BrokerPublishOptions {
  headers?: HeadersInit;
  /** How to encode the payload; by default bytes pass, strings are UTF-8, the rest JSON. */
  codec?: CodecOption;
}

export interface BrokerRequestOptions extends BrokerPublishOptions {
  timeoutMs?: number;
  /** How to decode the reply. Default json. */
  replyCodec?: CodecOption;
}

function encodeWith(codec: CodecOption | undefined, payload: unknown): Uint8Array {
  return codec === undefined ? encodePayload(payload as Payload) : resolveCodec(codec, "codec").encode(payload);
}

export interface JetStreamBrokerPublishOptions extends JetStreamPublishOptions {
  /** How to encode the payload; by default bytes pass, strings are UTF-8, the rest JSON. */
  codec?: CodecOption;
}

/**
 * Publishing to streams (each publish resolves once the stream stored it), and pulling by hand from
 * an existing consumer, outside any `@Consume` handler.
 */
export class JetStreamPublisher {
  constructor(
    private readonly transport: () => Transport,
    private readonly tracing: Tracing,
    private readonly outgoing: Outgoing,
  ) {}

  /** Resolves with the stream's PubAck; rejects with `PubAckError` when the message was not stored (or an outgoing middleware refused it). */
  publish(subject: string, payload: Payload, options: JetStreamBrokerPublishOptions = {}): Promise<PubAck> {
    // Every failure a rejection, a refused subject included; not async, so a publish costs no promise of its own.
    try {
      const { codec, headers: given, ...rest } = options;
      const data = encodeWith(codec, payload);
      const chain = this.outgoing.current();
      if (chain) return this.outgoing.send(chain, "jetstream", subject, data, payload, given, "broker", { jetstream: rest }) as Promise<PubAck>;
      const { headers, span } = prepare(this.tracing, "publish", subject, data, given);
      const stored = this.transport().jetstream().publish(subject, data, headers ? { ...rest, headers } : rest);
      return span ? this.tracing.endWhen(span, stored) : stored;
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * One pull from the consumer `durable` (durable or ephemeral) of `stream`: up to `max` messages,
   * whatever came within `expiresMs`, decoded. Settle each one; unsettled, it comes again after the ack wait.
   */
  async fetch<T = unknown>(stream: string, durable: string, options: FetchOptions = {}): Promise<PulledMessage<T>[]> {
    return fetchFrom<T>(await this.transport().jetstream().consumer(stream, durable), options);
  }

  /** The next message, or undefined when none came within `expiresMs` (or the one that came was invalid, and terminated). */
  async next<T = unknown>(stream: string, durable: string, options: Omit<FetchOptions, "max"> = {}): Promise<PulledMessage<T> | undefined> {
    return (await this.fetch<T>(stream, durable, { ...options, max: 1 }))[0];
  }

  /** Messages as they come, for a `for await` loop: leaving the loop stops the pull; a lost consumer ends it with an error. */
  consume<T = unknown>(stream: string, durable: string, options: ConsumeLoopOptions = {}): PulledMessages<T> {
    return consumeFrom<T>(this.transport().jetstream().consumer(stream, durable), options);
  }
}

/**
 * Injectable handle for publishing and requesting, from handlers and services alike. Called while a
 * message is handled, it adds that message's correlation id to what it sends; with tracing on, each
 * send is a span (a child of the message's) whose trace context travels in the headers.
 */
export class Broker {
  /** JetStream publishing with PubAcks, deduplication (`msgId`) and expectations. */
  readonly jetstream: JetStreamPublisher;
  /** @internal the app's outgoing middleware: every send of this Broker, `@Publish` and declared publishers runs through it */
  readonly outgoing: Outgoing;

  constructor(
    private readonly transport: () => Transport,
    private readonly tracing: Tracing = new Tracing(false),
    outgoing: readonly OutgoingMiddleware[] = [],
  ) {
    this.outgoing = new Outgoing(transport, tracing, outgoing);
    this.jetstream = new JetStreamPublisher(transport, tracing, this.outgoing);
  }

  /**
   * Publishes at once. A bad subject or header, or no connection, throws. The promise matters only
   * with outgoing middleware: it resolves once the message left, and rejects when a middleware
   * refused it (nothing was sent); unawaited, such a refusal is only logged by the app.
   */
  publish(subject: string, payload: Payload, options: BrokerPublishOptions = {}): Promise<void> {
    return this.reported(this.send(this.outgoing.current(), subject, encodeWith(options.codec, payload), payload, options.headers, "broker"), subject);
  }

  /** Already-encoded bytes; see `publish`. */
  publishBytes(subject: string, data: Uint8Array, given?: HeadersInit): Promise<void> {
    return this.reported(this.send(this.outgoing.current(), subject, data, data, given, "broker"), subject);
  }

  private reported(sent: Promise<void>, subject: string): Promise<void> {
    // A caller that does not await still has a refusal reported, not an unhandled rejection.
    if (sent !== RESOLVED) sent.catch((err: unknown) => this.onRefused(err, subject));
    return sent;
  }

  /** @internal a core publish through `chain` (the app's, or one with a router's or publisher's middleware inside it) */
  send(chain: OutgoingChain | undefined, subject: string, data: Uint8Array, value: unknown, given: HeadersInit | undefined, sender: string): Promise<void> {
    if (chain) return this.outgoing.send(chain, "publish", subject, data, value, given, sender) as Promise<void>;
    const { headers, span } = prepare(this.tracing, "publish", subject, data, given);
    try {
      this.transport().publish(subject, data, headers ? { headers } : {});
    } finally {
      span?.end();
    }
    return RESOLVED;
  }

  /** @internal set by the app: where a refused publish nobody awaited is reported */
  onRefused: (err: unknown, subject: string) => void = () => undefined;

  /**
   * Sends a request and decodes the reply (JSON unless `replyCodec` says otherwise). An error reply
   * in the NATS micro services convention becomes a `ServiceError` with its code and description.
   */
  async request<T = unknown>(subject: string, payload: Payload, options: BrokerRequestOptions = {}): Promise<T> {
    const reply = await this.requestMessage(subject, payload, options);
    const codec: Codec = resolveCodec(options.replyCodec, "replyCodec");
    return codec.decode(reply.data) as T;
  }

  /** Like `request`, but returns the raw reply (after checking it is not an error). */
  async requestMessage(subject: string, payload: Payload, options: BrokerRequestOptions = {}): Promise<InboundMessage> {
    const data = encodeWith(options.codec, payload);
    const reply = await this.sendRequest(subject, data, payload, options);
    const code = reply.headers?.get(SERVICE_ERROR_CODE_HEADER);
    if (code !== undefined) {
      let body: unknown;
      try {
        body = jsonCodec.decode(reply.data);
      } catch {
        body = undefined;
      }
      throw new ServiceError(subject, Number(code), reply.headers?.get(SERVICE_ERROR_HEADER) ?? "", body);
    }
    return reply;
  }

  private sendRequest(subject: string, data: Uint8Array, payload: Payload, options: BrokerRequestOptions): Promise<InboundMessage> {
    const chain = this.outgoing.current();
    const timeoutMs = options.timeoutMs ?? 5000;
    if (chain) return this.outgoing.send(chain, "request", subject, data, payload, options.headers, "broker", { timeoutMs }) as Promise<InboundMessage>;
    const { headers, span } = prepare(this.tracing, "request", subject, data, options.headers);
    const sent = this.transport().request(subject, data, { timeoutMs, ...(headers ? { headers } : {}) });
    return span ? this.tracing.endWhen(span, sent) : sent;
  }

  /** Opens (or creates) a JetStream key-value bucket on the app's connection. */
  kv(bucket: string, options?: KvBucketOptions): Promise<KvBucket> {
    return this.transport().kv(bucket, options);
  }
}
