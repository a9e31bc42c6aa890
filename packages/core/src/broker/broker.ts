import { jsonCodec, resolveCodec, type Codec, type CodecOption } from "../codec/codec.js";
import { propagated } from "../dispatch/current.js";
import { SERVICE_ERROR_CODE_HEADER, SERVICE_ERROR_HEADER } from "../dispatch/error-reply.js";
import { ServiceError } from "../errors.js";
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

/** Publishing to streams: each publish resolves once the stream stored it. */
export class JetStreamPublisher {
  constructor(private readonly transport: () => Transport) {}

  /** Resolves with the stream's PubAck; rejects with `PubAckError` when the message was not stored. */
  publish(subject: string, payload: Payload, options: JetStreamBrokerPublishOptions = {}): Promise<PubAck> {
    const { codec, headers, ...rest } = options;
    const sent = propagated(headers);
    return this.transport().jetstream().publish(subject, encodeWith(codec, payload), sent ? { ...rest, headers: sent } : rest);
  }
}

/**
 * Injectable handle for publishing and requesting, from handlers and services alike. Called while a
 * message is handled, it adds that message's correlation id to what it sends.
 */
export class Broker {
  /** JetStream publishing with PubAcks, deduplication (`msgId`) and expectations. */
  readonly jetstream: JetStreamPublisher;

  constructor(private readonly transport: () => Transport) {
    this.jetstream = new JetStreamPublisher(transport);
  }

  publish(subject: string, payload: Payload, options: BrokerPublishOptions = {}): void {
    this.publishBytes(subject, encodeWith(options.codec, payload), options.headers);
  }

  /** Already-encoded bytes. */
  publishBytes(subject: string, data: Uint8Array, headers?: HeadersInit): void {
    const sent = propagated(headers);
    this.transport().publish(subject, data, sent ? { headers: sent } : {});
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
    const headers = propagated(options.headers);
    const reply = await this.transport().request(subject, encodeWith(options.codec, payload), {
      timeoutMs: options.timeoutMs ?? 5000,
      ...(headers ? { headers } : {}),
    });
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
