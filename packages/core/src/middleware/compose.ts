import type { MessageContext } from "../dispatch/context.js";
import type { Middleware, Next } from "./middleware.js";

/**
 * Folds middleware around a terminal handler, outermost first. Built once per handler at bootstrap,
 * so a message pays for the calls only. Calling `next()` twice is a bug in the middleware and rejects.
 */
export function compose(
  middleware: readonly Middleware[],
  terminal: (ctx: MessageContext) => Promise<void>,
): (ctx: MessageContext) => Promise<void> {
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
