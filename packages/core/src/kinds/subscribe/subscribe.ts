import type { DependencyContainer } from "tsyringe";

import { Broker } from "../../broker/broker.js";
import type { CodecOption } from "../../codec/codec.js";
import { addHandler, type HandlerOptions } from "../../metadata/handler-metadata.js";
import type { Middleware } from "../../middleware/middleware.js";
import type { PublishTarget } from "../../pipeline/publish.js";
import { replyStage, resolvePayloadStage } from "../../pipeline/subscribe-pipeline.js";
import type { StandardSchemaV1 } from "../../validation/standard-schema.js";

export interface SubscribeOptions extends HandlerOptions {
  /** How payloads are decoded and results encoded: "json" (default), "string", "bytes", or your own. */
  codec?: CodecOption;
  /** A Standard Schema (zod, valibot, arktype, …) the decoded payload must satisfy; invalid input gets a 400. */
  schema?: StandardSchemaV1;
  /** Larger payloads are refused with a 413 before decoding. */
  maxPayloadBytes?: number;
  /** One line on what the handler does, for its AsyncAPI description. */
  summary?: string;
}

/** Options of `app.subscribe`: those of `@Subscribe`, and a name for logs and metrics (default: the subject). */
export interface AppSubscribeOptions extends SubscribeOptions {
  name?: string;
}

/**
 * Handles messages on `subject` (relative to the controller's prefix; `{name}` tokens are `*`
 * wildcards readable with `@Param(name)`). The return value is the reply when the message has a
 * reply subject; `undefined` sends nothing.
 */
export function Subscribe(subject: string, options: SubscribeOptions = {}) {
  return (prototype: object, method: string | symbol): void => {
    const target = prototype.constructor as new () => unknown;
    addHandler(target, {
      method,
      subject,
      options: {
        ...(options.queue !== undefined ? { queue: options.queue } : {}),
        ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}),
        ...(options.maxPending !== undefined ? { maxPending: options.maxPending } : {}),
        ...(options.metadata !== undefined ? { metadata: options.metadata } : {}),
        ...(options.filter !== undefined ? { filter: options.filter } : {}),
      },
      // No `source`: a core subscription.
      describe: { schema: options.schema, codec: options.codec, summary: options.summary },
      pipeline: ({ name, container, publishes }) => subscribeStages(name, options, container, publishes),
    });
  };
}

/** The stages of a `@Subscribe` handler, outermost first: publish and reply, then decode and validate. Throws `SetupError`. */
export function subscribeStages(name: string, options: SubscribeOptions, container: DependencyContainer, publishes: readonly PublishTarget[]): Middleware[] {
  const { codec, stage } = resolvePayloadStage(name, options);
  return [replyStage(codec, publishes, container.resolve(Broker)), stage];
}
