import type { HeadersInit, InboundMessage, Transport } from "../transport/transport.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export type Payload = Uint8Array | string | object | number | boolean | null;

/** Bytes pass through, strings are UTF-8, everything else is JSON: plain payloads any client can read. */
export function encodePayload(payload: Payload): Uint8Array {
  if (payload instanceof Uint8Array) return payload;
  if (typeof payload === "string") return encoder.encode(payload);
  return encoder.encode(JSON.stringify(payload));
}

export interface BrokerPublishOptions {
  headers?: HeadersInit;
}

export interface BrokerRequestOptions {
  timeoutMs?: number;
  headers?: HeadersInit;
}

/** A reply, with helpers to read its body. */
export class Reply {
  constructor(readonly message: InboundMessage) {}
  get data(): Uint8Array {
    return this.message.data;
  }
  text(): string {
    return decoder.decode(this.message.data);
  }
  json<T = unknown>(): T {
    return JSON.parse(this.text()) as T;
  }
}

/** Injectable handle for publishing and requesting from handlers and services. */
export class Broker {
  constructor(private readonly transport: () => Transport) {}

  publish(subject: string, payload: Payload, options: BrokerPublishOptions = {}): void {
    this.transport().publish(subject, encodePayload(payload), options.headers ? { headers: options.headers } : {});
  }

  async request(subject: string, payload: Payload, options: BrokerRequestOptions = {}): Promise<Reply> {
    const message = await this.transport().request(subject, encodePayload(payload), {
      timeoutMs: options.timeoutMs ?? 5000,
      ...(options.headers ? { headers: options.headers } : {}),
    });
    return new Reply(message);
  }
}
