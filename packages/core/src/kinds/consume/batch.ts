import type { Codec } from "../../codec/codec.js";
import type { Middleware } from "../../middleware/middleware.js";
import { payloadDecoder } from "../../pipeline/subscribe-pipeline.js";
import { validate, type StandardSchemaV1 } from "../../validation/standard-schema.js";
import { DELIVERY, type JetStreamBatch } from "./jetstream-delivery.js";

/**
 * How a batch handler may settle one message by returning an array (index `i` for its payload `i`):
 * "ack"; "dead-letter" (terminated and dead-lettered now); an `Error` (retried by the retry policy,
 * dead-lettered with it after `maxDeliver`, at once for a `ValidationError`); `undefined` (the
 * default: acked, or nak'ed when `ack: "manual"` and the handler left it unsettled).
 */
export type BatchOutcome = "ack" | "dead-letter" | Error | undefined;

/**
 * A batch consumer's payload stage: each message is decoded (size limit, codec, schema) on its own;
 * the handler sees the array of valid payloads, the invalid ones are left to the consumer to
 * dead-letter. A batch with none valid does not reach the handler.
 */
export function batchPayloadStage(codec: Codec, schema: StandardSchemaV1 | undefined, maxPayloadBytes: number | undefined): Middleware {
  const decoder = payloadDecoder(codec, maxPayloadBytes);
  const decode = schema ? (data: Uint8Array) => validate(schema, decoder(data)) : decoder;
  return async (ctx, next) => {
    // Set by the consumer's batch path, the only one this stage is built for.
    const batch = ctx.get(DELIVERY) as JetStreamBatch;
    ctx.payload = await batch.decode(decode);
    if (batch.length > 0) await next();
  };
}
