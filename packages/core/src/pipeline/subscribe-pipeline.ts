import type { Broker } from "../broker/broker.js";
import type { Codec } from "../codec/codec.js";
import { HandlerError, ValidationError } from "../errors.js";
import type { Middleware } from "../middleware/middleware.js";
import { validate, type StandardSchemaV1 } from "../validation/standard-schema.js";

/**
 * The outermost stage of a `@Subscribe` handler: where its result becomes the reply (when the
 * message has a reply subject) and is published to its `@Publish` subjects. `undefined` sends nothing.
 * Errors pass through to the dispatcher, which answers them.
 */
export function replyStage(codec: Codec, publishTo: readonly string[], broker: Broker): Middleware {
  return async (ctx, next) => {
    await next();
    if (ctx.result === undefined) return;
    let data: Uint8Array;
    try {
      data = codec.encode(ctx.result);
    } catch (e) {
      throw new HandlerError(`the handler's result could not be encoded as ${codec.name}`, 500, { cause: e });
    }
    if (ctx.message.reply) ctx.response = { data };
    for (const subject of publishTo) broker.publishBytes(subject, data);
  };
}

/** Where the payload is decoded: size limit, codec, then schema; the handler sees the result. */
export function payloadStage(codec: Codec, schema: StandardSchemaV1 | undefined, maxPayloadBytes: number | undefined): Middleware {
  return async (ctx, next) => {
    const data = ctx.message.data;
    if (maxPayloadBytes !== undefined && data.length > maxPayloadBytes) {
      throw new HandlerError(`payload too large: ${data.length} bytes, at most ${maxPayloadBytes}`, 413);
    }
    let value: unknown;
    try {
      value = codec.decode(data);
    } catch (e) {
      throw new ValidationError([{ path: "", message: `not valid ${codec.name}` }], { cause: e, description: `malformed payload: not valid ${codec.name}` });
    }
    ctx.payload = schema ? await validate(schema, value) : value;
    await next();
  };
}
