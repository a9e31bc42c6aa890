import type { MessageContext } from "../dispatch/context.js";
import type { StreamDeclaration } from "../jetstream/stream.js";
import { addPublish } from "../metadata/handler-metadata.js";
import type { HeadersInit } from "../transport/transport.js";

export interface PublishOptions {
  /**
   * Publish to this JetStream stream and wait for its PubAck: the reply (or, for `@Consume`, the ack)
   * goes only once the event is stored, and a failed PubAck is a 503. The stream is set up at start
   * like a consumer's and must store `subject`.
   */
  stream?: StreamDeclaration;
  /** `Nats-Msg-Id` from the result, for the stream's duplicate detection (e.g. `(order) => order.id`). */
  msgId?: (result: never, ctx: MessageContext) => string;
  /** Headers on the published message, or a function of the result returning them. */
  headers?: HeadersInit | ((result: never, ctx: MessageContext) => HeadersInit);
}

/** Publishes the handler's return value (encoded with its codec) to `subject`, besides any reply. */
export function Publish(subject: string, options: PublishOptions = {}) {
  return (prototype: object, method: string | symbol): void => {
    addPublish(prototype.constructor as new () => unknown, method, { subject, ...options });
  };
}
