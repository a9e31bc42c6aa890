import { jsonCodec, resolveCodec, type Codec, type CodecOption } from "../codec/codec.js";
import { outbound } from "../dispatch/current.js";
import { SERVICE_ERROR_CODE_HEADER, SERVICE_ERROR_HEADER } from "../dispatch/error-reply.js";
import { ServiceError } from "../errors.js";
import { endWhen, Tracing } from "../observability/tracing.js";
import { checkSubject } from "../subjects.js";
import type { HeadersInit, InboundMessage, JetStreamPublishOptions, KvBucket, KvBucketOptions, PubAck, Transport } from "../transport/transport.js";

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

/** How a send made now is correlated and traced: its headers, and its span when tracing is on. */
function prepare(tracing: Tracing, operation: "publish" | "request", subject: string, data: Uint8Array, headers: HeadersInit | undefined) {
  const out = outbound(headers);
  if (!tracing.enabled) return { headers: out.headers, span: undefined };
  // Before the span is named after it; the transport checks the rest.
  checkSubject(subject);
  const carrier: Record<string, string | readonly string[]> = { ...out.headers };
  const span = tracing.send(operation, subject, data.length, out.parent, carrier);
  return { headers: carrier, span };
}

/** Publishing to streams: each publish resolves once the stream stored it. */
export class JetStreamPublisher {
  constructor(
    private readonly transport: () => Transport,
    private readonly tracing: Tracing,
  ) {}

  /** Resolves with the stream's PubAck; rejects with `PubAckError` when the message was not stored. */
  publish(subject: string, payload: Payload, options: JetStreamBrokerPublishOptions = {}): Promise<PubAck> {
    // Every failure a rejection, a refused subject included; not async, so a publish costs no promise of its own.
    try {
      const { codec, headers: given, ...rest } = options;
      const data = encodeWith(codec, payload);
      const { headers, span } = prepare(this.tracing, "publish", subject, data, given);
      const stored = this.transport().jetstream().publish(subject, data, headers ? { ...rest, headers } : rest);
      return span ? endWhen(span, stored) : stored;
    } catch (e) {
      return Promise.reject(e);
    }
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

  constructor(
    private readonly transport: () => Transport,
    private readonly tracing: Tracing = new Tracing(false),
  ) {
    this.jetstream = new JetStreamPublisher(transport, tracing);
  }

  publish(subject: string, payload: Payload, options: BrokerPublishOptions = {}): void {
    this.publishBytes(subject, encodeWith(options.codec, payload), options.headers);
  }

  /** Already-encoded bytes. */
  publishBytes(subject: string, data: Uint8Array, given?: HeadersInit): void {
    const { headers, span } = prepare(this.tracing, "publish", subject, data, given);
    try {
      this.transport().publish(subject, data, headers ? { headers } : {});
    } finally {
      span?.end();
    }
  }

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
    const { headers, span } = prepare(this.tracing, "request", subject, data, options.headers);
    const sent = this.transport().request(subject, data, { timeoutMs: options.timeoutMs ?? 5000, ...(headers ? { headers } : {}) });
    const reply = await (span ? endWhen(span, sent) : sent);
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

  /** Opens (or creates) a JetStream key-value bucket on the app's connection. */
  kv(bucket: string, options?: KvBucketOptions): Promise<KvBucket> {
    return this.transport().kv(bucket, options);
  }
}
