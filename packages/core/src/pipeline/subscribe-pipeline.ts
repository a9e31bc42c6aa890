import type { Broker } from "../broker/broker.js";
import { resolveCodec, type Codec, type CodecOption } from "../codec/codec.js";
import { HandlerError, SetupError, ValidationError } from "../errors.js";
import type { Middleware } from "../middleware/middleware.js";
import { isStandardSchema, validate, type StandardSchemaV1 } from "../validation/standard-schema.js";

/**
 * The outermost stage of a `@Subscribe` handler: where its result becomes the reply (when the
 * message has a reply subject) and is published to its `@Publish` subjects. `undefined` sends nothing.
 * Errors pass through to the dispatcher, which answers them.
 */
export function replyStage(codec: Codec, publishTo: readonly string[], broker: Broker): Middleware {
  return (ctx, next) => next().then(() => {
    if (ctx.result === undefined) return;
    let data: Uint8Array;
    try {
      data = codec.encode(ctx.result);
    } catch (e) {
      throw new HandlerError(`the handler's result could not be encoded as ${codec.name}`, 500, { cause: e });
    }
    if (ctx.message.reply) ctx.response = { data };
    for (const subject of publishTo) broker.publishBytes(subject, data);
  });
}

/** Where the payload is decoded: size limit, codec, then schema; the handler sees the result. */
export function payloadStage(codec: Codec, schema: StandardSchemaV1 | undefined, maxPayloadBytes: number | undefined): Middleware {
  const decode = (data: Uint8Array): unknown => {
    if (maxPayloadBytes !== undefined && data.length > maxPayloadBytes) {
      throw new HandlerError(`payload too large: ${data.length} bytes, at most ${maxPayloadBytes}`, 413);
    }
    try {
      return codec.decode(data);
    } catch (e) {
      throw new ValidationError([{ path: "", message: `not valid ${codec.name}` }], { cause: e, description: `malformed payload: not valid ${codec.name}` });
    }
  };
  if (schema) {
    return async (ctx, next) => {
      ctx.payload = await validate(schema, decode(ctx.message.data));
      await next();
    };
  }
  // No schema: nothing to wait for, so no async frame of its own (compose turns throws into rejections).
  return (ctx, next) => {
    ctx.payload = decode(ctx.message.data);
    return next();
  };
}

/** How a handler's payload is decoded; shared by `@Subscribe` and `@Consume`. */
export interface PayloadOptions {
  codec?: CodecOption | undefined;
  schema?: StandardSchemaV1 | undefined;
  maxPayloadBytes?: number | undefined;
}

/** Checks a handler's payload options (throwing `SetupError`) and builds its `payloadStage`. */
export function resolvePayloadStage(name: string, options: PayloadOptions): { codec: Codec; stage: Middleware } {
  const codec = resolveCodec(options.codec, `${name} codec`);
  if (options.schema !== undefined && !isStandardSchema(options.schema)) {
    throw new SetupError(`${name} schema`, "is not a Standard Schema.", "use a zod, valibot or arktype schema (or anything with a `~standard` property).");
  }
  const max = options.maxPayloadBytes;
  if (max !== undefined && (!Number.isInteger(max) || max < 0)) {
    throw new SetupError(`${name} maxPayloadBytes`, `must be a whole number of bytes, got ${String(max)}.`);
  }
  return { codec, stage: payloadStage(codec, options.schema, max) };
}
