import { NatsflowError, SetupError } from "../errors.js";
import type { MessageContext } from "./context.js";

/** Answer a request with this error reply (the NATS micro convention): `code`, `description` (default the error's message), extra headers. */
export interface ReplyOutcome {
  readonly code: number;
  readonly description?: string;
  readonly headers?: Readonly<Record<string, string>>;
}

/** Settle a JetStream message this way instead of by the consumer's retry policy. */
export type SettleOutcome =
  | { readonly settle: "ack" }
  | { readonly settle: "nak"; readonly delayMs?: number }
  | { readonly settle: "term"; readonly reason?: string }
  /** Published to the consumer's `deadLetter` subject (when it has one), then terminated. */
  | { readonly settle: "dead-letter" };

/**
 * What an exception handler decides. Each kind of source reads the part it understands: a
 * subscription answers a `ReplyOutcome`, a JetStream consumer applies a `SettleOutcome`; the other
 * part is ignored, and the error is handled as if no exception handler had matched.
 */
export type ErrorOutcome = ReplyOutcome | SettleOutcome;

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any error class, whatever its constructor takes
export type ErrorClass<E = Error> = abstract new (...args: any[]) => E;

/** Maps errors of `types` (by `instanceof`) to an outcome; returning nothing, or throwing, leaves the (thrown) error unhandled. */
export interface ExceptionHandler<E = Error> {
  readonly types: readonly ErrorClass<E>[];
  handle(error: E, ctx: MessageContext): ErrorOutcome | void | Promise<ErrorOutcome | void>;
}

/** An exception handler for errors of `type` (or any of `types`): `catchErrors(NotFoundError, (err) => ({ code: 404, description: err.message }))`. */
export function catchErrors<E extends Error>(type: ErrorClass<E> | readonly ErrorClass<E>[], handle: (error: E, ctx: MessageContext) => ErrorOutcome | void | Promise<ErrorOutcome | void>): ExceptionHandler<E> {
  const types = Array.isArray(type) ? [...(type as readonly ErrorClass<E>[])] : [type as ErrorClass<E>];
  if (types.length === 0 || types.some((t) => typeof t !== "function")) throw new SetupError("catchErrors", "takes an error class, or a list of them, first.", "e.g. catchErrors(NotFoundError, (err) => ({ code: 404 })).");
  if (typeof handle !== "function") throw new SetupError("catchErrors", "takes a function second: (error, ctx) => outcome.");
  return Object.freeze({ types, handle });
}

/** A handled error on its way to the source: the outcome to apply, the original error as `cause`. */
export class HandledError extends NatsflowError {
  constructor(
    readonly outcome: ErrorOutcome,
    cause: unknown,
  ) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
  }
}

/** Checks a list of exception handlers where it is declared (an option, `@Catch`). */
export function checkExceptionHandlers(where: string, handlers: unknown): readonly ExceptionHandler[] {
  if (handlers === undefined) return [];
  if (!Array.isArray(handlers)) throw new SetupError(where, "must be an array of catchErrors(…) handlers.");
  handlers.forEach((h: unknown, i) => {
    const ok = typeof h === "object" && h !== null && Array.isArray((h as ExceptionHandler).types) && typeof (h as ExceptionHandler).handle === "function";
    if (!ok) throw new SetupError(`${where}[${i}]`, "is not an exception handler.", "make it with catchErrors(ErrorClass, (err, ctx) => outcome).");
  });
  return handlers as ExceptionHandler[];
}

/**
 * Wraps `run` so that an error goes to the nearest level (`levels`, nearest first) with a handler
 * for its class — within a level the first in declaration order — and leaves as a `HandledError`
 * with the outcome. Without any handler, `run` itself: no cost per message.
 */
export function catching(levels: readonly (readonly ExceptionHandler[])[], run: (ctx: MessageContext) => Promise<void>): (ctx: MessageContext) => Promise<void> {
  const nonEmpty = levels.filter((l) => l.length > 0);
  if (nonEmpty.length === 0) return run;
  const find = (error: unknown): ExceptionHandler | undefined => {
    for (const level of nonEmpty) {
      const found = level.find((h) => h.types.some((t) => error instanceof t));
      if (found) return found;
    }
    return undefined;
  };
  return (ctx) =>
    run(ctx).catch(async (error: unknown) => {
      const handler = find(error);
      if (!handler) throw error;
      const outcome = await handler.handle(error as Error, ctx);
      if (outcome === undefined || outcome === null) throw error;
      throw new HandledError(outcome, error);
    });
}
