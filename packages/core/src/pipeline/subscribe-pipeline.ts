import type { Broker } from "../broker/broker.js";
import type { OutgoingChain } from "../broker/outgoing.js";
import { resolveCodec, type Codec, type CodecOption } from "../codec/codec.js";
import { Reply, type MessageContext } from "../dispatch/context.js";
import { HandlerError, SetupError, ValidationError } from "../errors.js";
import type { Middleware } from "../middleware/middleware.js";
import { stage } from "../middleware/compose.js";
import type { HeadersInit } from "../transport/transport.js";
import { isStandardSchema, validate, type StandardSchemaV1 } from "../validation/standard-schema.js";
import type { PublishTarget } from "./publish.js";

/** A target's headers for this result, with the message's correlation id (given here: a handler that reaches no Broker runs outside the current-message store). */
function headersOf(target: PublishTarget, ctx: MessageContext): HeadersInit | undefined {
  const headers = typeof target.headers === "function" ? target.headers(ctx.result as never, ctx) : target.headers;
  const name = ctx.correlationHeader;
  if (name === undefined || (headers !== undefined && name in headers)) return headers;
  return { ...headers, [name]: ctx.correlationId as string };
}

/**
 * The outermost stage of a handler's own chain: where its result is published to its `@Publish`
 * targets and becomes the reply (`reply`: when the message has a reply subject). Stream targets are
 * awaited first, so a reply (or a `@Consume` handler's ack) means the event is stored; a failed
 * PubAck is a 503. `undefined` sends nothing; a `Reply` adds its headers to the reply and is
 * published as its value. Headers a middleware put on `ctx.response` are kept. Errors pass through
 * to the dispatcher, which answers them.
 */
export function replyStage(codec: Codec, targets: readonly PublishTarget[], broker: Broker, reply = true): Middleware {
  // Each target's outgoing chain composed once; undefined (the plain send) when there is no outgoing middleware.
  const sends = targets.map((target) => ({ target, chain: broker.outgoing.chain(target.outgoing) }));
  const stored = sends.filter((s) => s.target.stream);
  const plain = sends.filter((s) => !s.target.stream);
  const answer = (ctx: MessageContext, data: Uint8Array) => {
    if (reply && ctx.message.reply) {
      const kept = ctx.response?.headers;
      ctx.response = kept ? { data, headers: kept } : { data };
    }
  };
  const finish = (ctx: MessageContext, data: Uint8Array): Promise<void> | void => {
    let chained: Promise<void>[] | undefined;
    for (const { target, chain } of plain) {
      const sent = broker.send(chain, target.subject, data, ctx.result, headersOf(target, ctx), target.sender);
      // Without middleware the send is done already; with it, a refusal fails the handler before its reply.
      if (chain) (chained ??= []).push(sent);
    }
    if (!chained) return answer(ctx, data);
    return Promise.all(chained).then(() => answer(ctx, data));
  };
  const after = (ctx: MessageContext): Promise<void> | void => {
    if (ctx.result instanceof Reply) {
      for (const [name, value] of Object.entries(ctx.result.headers)) ctx.setReplyHeader(name, value);
      ctx.result = ctx.result.value;
    }
    if (ctx.result === undefined) return;
    let data: Uint8Array;
    try {
      data = codec.encode(ctx.result);
    } catch (e) {
      throw new HandlerError(`the handler's result could not be encoded as ${codec.name}`, 500, { cause: e });
    }
    // Nothing to wait for: no promise of its own.
    if (stored.length === 0) return finish(ctx, data);
    return Promise.all(stored.map((s) => storeEvent(broker, s.target, s.chain, data, ctx))).then(() => finish(ctx, data));
  };
  // A synchronous handler's result is sent at once: no `.then` of its own.
  return stage({ after });
}

const withHeaders = (headers: HeadersInit | undefined) => (headers ? { headers } : {});

function storeEvent(broker: Broker, target: PublishTarget, chain: OutgoingChain | undefined, data: Uint8Array, ctx: MessageContext): Promise<unknown> {
  const stream = target.stream?.config.name as string;
  const msgId = target.msgId?.(ctx.result as never, ctx);
  const options = { expect: { stream }, ...(msgId !== undefined ? { msgId } : {}) };
  const headers = headersOf(target, ctx);
  const stored = chain
    ? new Promise((resolve) => resolve(broker.outgoing.send(chain, "jetstream", target.subject, data, ctx.result, headers, target.sender, { jetstream: options })))
    : broker.jetstream.publish(target.subject, data, { ...options, ...withHeaders(headers) });
  return stored
    .catch((e: unknown) => {
      throw new HandlerError(`event not stored in stream ${stream}: ${(e as Error).message}`, 503, { cause: e });
    });
}

/** Size limit, then codec: a 413 `HandlerError` or a `ValidationError` for what cannot be decoded. */
export function payloadDecoder(codec: Codec, maxPayloadBytes: number | undefined): (data: Uint8Array) => unknown {
  return (data) => {
    if (maxPayloadBytes !== undefined && data.length > maxPayloadBytes) {
      throw new HandlerError(`payload too large: ${data.length} bytes, at most ${maxPayloadBytes}`, 413);
    }
    try {
      return codec.decode(data);
    } catch (e) {
      throw new ValidationError([{ path: "", message: `not valid ${codec.name}` }], { cause: e, description: `malformed payload: not valid ${codec.name}` });
    }
  };
}

/** Where the payload is decoded: size limit, codec, then schema; the handler sees the result. */
export function payloadStage(codec: Codec, schema: StandardSchemaV1 | undefined, maxPayloadBytes: number | undefined): Middleware {
  const decode = payloadDecoder(codec, maxPayloadBytes);
  if (schema) {
    return async (ctx, next) => {
      ctx.payload = await validate(schema, decode(ctx.message.data));
      await next();
    };
  }
  // No schema: nothing to wait for, so a stage (compose turns its throws into rejections).
  return stage({
    before: (ctx) => {
      ctx.payload = decode(ctx.message.data);
    },
  });
}

/** How a handler's payload is decoded; shared by `@Subscribe` and `@Consume`. */
export interface PayloadOptions {
  codec?: CodecOption | undefined;
  schema?: StandardSchemaV1 | undefined;
  maxPayloadBytes?: number | undefined;
}

/** Checks a handler's payload options (throwing `SetupError`) and builds its `payloadStage`. */
export function resolvePayloadStage(name: string, options: PayloadOptions): { codec: Codec; stage: Middleware } {
  const { codec, schema, maxPayloadBytes } = resolvePayloadOptions(name, options);
  return { codec, stage: payloadStage(codec, schema, maxPayloadBytes) };
}

/** A handler's payload options, checked (throwing `SetupError`), its codec resolved. */
export function resolvePayloadOptions(name: string, options: PayloadOptions): { codec: Codec; schema: StandardSchemaV1 | undefined; maxPayloadBytes: number | undefined } {
  const codec = resolveCodec(options.codec, `${name} codec`);
  if (options.schema !== undefined && !isStandardSchema(options.schema)) {
    throw new SetupError(`${name} schema`, "is not a Standard Schema.", "use a zod, valibot or arktype schema (or anything with a `~standard` property).");
  }
  const max = options.maxPayloadBytes;
  if (max !== undefined && (!Number.isInteger(max) || max < 0)) {
    throw new SetupError(`${name} maxPayloadBytes`, `must be a whole number of bytes, got ${String(max)}.`);
  }
  return { codec, schema: options.schema, maxPayloadBytes: max };
}
