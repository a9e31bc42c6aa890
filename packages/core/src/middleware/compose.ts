import type { MessageContext } from "../dispatch/context.js";
import type { Next } from "./middleware.js";

/**
 * Folds middleware around a terminal handler, outermost first. Built once per handler at bootstrap,
 * so a message pays for the calls only. Calling `next()` twice is a bug in the middleware and rejects.
 * The same fold serves the outgoing chain, whose context is the message being sent.
 */
export function compose<C = MessageContext>(
  middleware: readonly ((ctx: C, next: Next) => Promise<void>)[],
  terminal: (ctx: C) => Promise<void>,
): (ctx: C) => Promise<void> {
  return (ctx) => {
    let last = -1;
    const dispatch = (i: number): Promise<void> => {
      if (i <= last) return Promise.reject(new Error("next() called more than once"));
      last = i;
      const mw = middleware[i];
      if (!mw) return terminal(ctx);
      const next: Next = () => dispatch(i + 1);
      try {
        return mw(ctx, next);
      } catch (e) {
        return Promise.reject(e);
      }
    };
    return dispatch(0);
  };
}
