import { AsyncLocalStorage } from "node:async_hooks";

import type { Context } from "@opentelemetry/api";

import type { OutgoingChain } from "../broker/outgoing-message.js";
import type { Tracing } from "../observability/tracing.js";
import type { HeadersInit, InboundMessage } from "../transport/transport.js";
import type { MessageContext } from "./context.js";
import { errorReply } from "./error-reply.js";

/**
 * The message being handled, across its awaits: `Broker` calls made meanwhile — from singletons
 * too — take its correlation id and trace context from here. Entered only when correlation or
 * tracing is on: on Node 20 an AsyncLocalStorage in use costs every promise in the process a little.
 */
const currentMessage = new AsyncLocalStorage<MessageContext>();

/** What a dispatcher hands over with a message: how the app correlates and traces. */
export interface Propagation {
  /** The correlation header; undefined when correlation is off. */
  readonly correlation: string | undefined;
  readonly tracing: Tracing;
  /**
   * Whether the handler's code can reach the Broker (found in its dependencies at create). Only then,
   * or when the message arrives with a correlation id, is it made the current message for Broker calls.
   */
  readonly reachesBroker: boolean;
  /**
   * Its router's outgoing chain, for Broker sends made while the message is handled; undefined
   * outside routers with outgoing middleware. When set (and the Broker is reachable), the message is made the current one.
   */
  readonly outgoing?: OutgoingChain | undefined;
}

/**
 * Runs a message through `run` as the current message, in a span of its own when tracing is on
 * (its parent from the message's headers; `attributes`, made only then, added). The one way in for every dispatcher.
 * A batch consumer's context stands for `batch`: its span links to each of their trace contexts instead.
 */
export function handle(
  ctx: MessageContext,
  propagation: Propagation,
  run: (ctx: MessageContext) => Promise<void>,
  attributes?: (ctx: MessageContext) => Record<string, string | number>,
  batch?: readonly InboundMessage[],
): Promise<void> {
  // A line per message only when someone reads debug: otherwise not even a timestamp is taken.
  return ctx.debugging ? logged(ctx, () => dispatch(ctx, propagation, run, attributes, batch)) : dispatch(ctx, propagation, run, attributes, batch);
}

/** `handled` at debug: subject, handler, outcome ("ok" or the error's name) and duration. */
async function logged(ctx: MessageContext, work: () => Promise<void>): Promise<void> {
  const started = performance.now();
  let outcome = "ok";
  try {
    await work();
  } catch (error) {
    outcome = error instanceof Error ? error.name : "error";
    throw error;
  } finally {
    const ms = Math.round((performance.now() - started) * 100) / 100;
    ctx.logger.debug({ subject: ctx.message.subject, handler: ctx.handler.name, outcome, ms }, "handled");
  }
}

function dispatch(
  ctx: MessageContext,
  propagation: Propagation,
  run: (ctx: MessageContext) => Promise<void>,
  attributes?: (ctx: MessageContext) => Record<string, string | number>,
  batch?: readonly InboundMessage[],
): Promise<void> {
  const header = (ctx.correlationHeader = propagation.correlation);
  ctx.outgoing = propagation.outgoing;
  // Not async, off the traced path: a message pays for no promise of its own here.
  if (!propagation.tracing.enabled) {
    const current =
      (propagation.outgoing !== undefined && propagation.reachesBroker) || (header !== undefined && (propagation.reachesBroker || ctx.message.headers?.has(header) === true));
    return current ? currentMessage.run(ctx, run, ctx) : run(ctx);
  }
  return traced(ctx, propagation.tracing, run, attributes, batch);
}

async function traced(
  ctx: MessageContext,
  tracing: Tracing,
  run: (ctx: MessageContext) => Promise<void>,
  attributes?: (ctx: MessageContext) => Record<string, string | number>,
  batch?: readonly InboundMessage[],
): Promise<void> {
  const t = batch ? tracing.receiveBatch(batch, ctx.handler, ctx.correlationId) : tracing.receive(ctx.message, ctx.handler, ctx.correlationId);
  if (attributes) t.span.setAttributes(attributes(ctx));
  ctx.trace = t;
  try {
    await tracing.within(t, () => currentMessage.run(ctx, run, ctx));
  } catch (error) {
    const { code, description } = errorReply(error);
    tracing.finish(t, { type: error instanceof Error ? error.name : "Error", code, description });
    throw error;
  }
  tracing.finish(t);
}

/**
 * What a send made while a message is handled carries: the caller's headers plus that message's
 * correlation id, and the trace context its span is a child of.
 */
export function outbound(headers: HeadersInit | undefined): { headers: HeadersInit | undefined; parent: Context | undefined } {
  const ctx = currentMessage.getStore();
  if (ctx === undefined) return { headers, parent: undefined };
  const name = ctx.correlationHeader;
  const parent = ctx.trace?.context;
  if (name === undefined || (headers !== undefined && name in headers)) return { headers, parent };
  return { headers: { ...headers, [name]: ctx.correlationId as string }, parent };
}

/** The outgoing chain of the router whose handler is running now, if it has one. */
export function currentOutgoing(): OutgoingChain | undefined {
  return currentMessage.getStore()?.outgoing;
}
