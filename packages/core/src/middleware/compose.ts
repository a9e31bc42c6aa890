import type { MessageContext } from "../dispatch/context.js";
import { andThen } from "../resolved.js";
import type { Next } from "./middleware.js";

/**
 * A middleware's work given without `next`: `before` the rest of the chain, `after` it when it
 * succeeded (neither is called when an earlier step fails). natsflow's own stages (decoding, the
 * reply) are written this way: `compose` runs them without making a `next` closure per message.
 */
export interface Stage<C = MessageContext> {
  before?(ctx: C): void;
  after?(ctx: C): Promise<void> | void;
}

type Step<C> = ((ctx: C, next: Next) => Promise<void>) & { readonly stage?: Stage<C> };

/** A stage as a middleware, usable wherever one is (called directly, it does what `compose` does with it). */
export function stage<C = MessageContext>(s: Stage<C>): ((ctx: C, next: Next) => Promise<void>) & { readonly stage: Stage<C> } {
  const run = (ctx: C, next: Next): Promise<void> => staged(s, next)(ctx);
  return Object.assign(run, { stage: s });
}

/**
 * Folds middleware around a terminal handler, outermost first. Built once per handler at bootstrap,
 * so a message pays for the calls only. Calling `next()` twice is a bug in the middleware and rejects.
 * The same fold serves the outgoing chain, whose context is the message being sent.
 */
export function compose<C = MessageContext>(
  middleware: readonly ((ctx: C, next: Next) => Promise<void>)[],
  terminal: (ctx: C) => Promise<void>,
): (ctx: C) => Promise<void> {
  // Inside out: each stage wraps what follows it; each run of plain middleware becomes one onion.
  let run = terminal;
  let end = middleware.length;
  while (end > 0) {
    const last = middleware[end - 1] as Step<C>;
    if (last.stage) {
      run = staged(last.stage, run);
      end--;
      continue;
    }
    let start = end - 1;
    while (start > 0 && !(middleware[start - 1] as Step<C>).stage) start--;
    run = onion(middleware.slice(start, end), run);
    end = start;
  }
  return run;
}

function staged<C>(s: Stage<C>, inner: (ctx: C) => Promise<void>): (ctx: C) => Promise<void> {
  return (ctx) => {
    let done: Promise<void>;
    try {
      s.before?.(ctx);
      done = inner(ctx);
    } catch (e) {
      return Promise.reject(e);
    }
    return s.after ? andThen(done, s.after, ctx) : done;
  };
}

function onion<C>(middleware: readonly ((ctx: C, next: Next) => Promise<void>)[], terminal: (ctx: C) => Promise<void>): (ctx: C) => Promise<void> {
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
