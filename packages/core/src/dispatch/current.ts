import { AsyncLocalStorage } from "node:async_hooks";

import type { HeadersInit } from "../transport/transport.js";
import type { MessageContext } from "./context.js";

/**
 * The message being handled, across its awaits: `Broker` calls made meanwhile — from singletons
 * too — take its correlation id from here. Entered only when correlation is on: on Node 20 an
 * AsyncLocalStorage in use costs every promise in the process a little.
 */
export const currentMessage = new AsyncLocalStorage<MessageContext>();

/** Runs `work` with `ctx` as the current message, when it correlates. */
export function within<T>(ctx: MessageContext, work: (ctx: MessageContext) => T): T {
  return ctx.correlationHeader === undefined ? work(ctx) : currentMessage.run(ctx, work, ctx);
}

/** Headers for a message sent while one is being handled: the caller's, plus that one's correlation id. */
export function propagated(headers: HeadersInit | undefined): HeadersInit | undefined {
  const ctx = currentMessage.getStore();
  const name = ctx?.correlationHeader;
  if (ctx === undefined || name === undefined || (headers !== undefined && name in headers)) return headers;
  return { ...headers, [name]: ctx.correlationId as string };
}
