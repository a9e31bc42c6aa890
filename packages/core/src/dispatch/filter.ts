import type { OutgoingChain } from "../broker/outgoing-message.js";
import { HandlerError, NoMatchError, SetupError } from "../errors.js";
import type { Logger } from "../logging/logger.js";
import type { MessageFilter } from "../metadata/handler-metadata.js";
import type { Middleware } from "../middleware/middleware.js";
import type { MessageHeaders } from "../transport/transport.js";
import { createContextKey, type MessageContext } from "./context.js";
import type { HandlerInfo } from "./handler-info.js";

/** A handler's filter, checked at create: header values by name, or a predicate on its decoded payload. */
export interface CompiledFilter {
  readonly headers?: ReadonlyArray<readonly [name: string, values: readonly string[]]>;
  readonly predicate?: (payload: never, ctx: MessageContext) => boolean;
  /** How the AsyncAPI document shows it (`x-natsflow-filter`). */
  readonly doc: Readonly<Record<string, unknown>>;
}

/** Checks a handler's `filter` option (throwing `SetupError`); undefined when it has none. */
export function compileFilter(name: string, filter: MessageFilter | undefined): CompiledFilter | undefined {
  if (filter === undefined) return undefined;
  if (typeof filter === "function") return { predicate: filter, doc: { predicate: filter.name || "anonymous" } };
  const given = (filter as { headers?: unknown } | null)?.headers;
  if (typeof given !== "object" || given === null) {
    throw new SetupError(`${name} filter`, "is neither { headers: { name: value } } nor a function (payload, ctx) => boolean.");
  }
  const headers = Object.entries(given as Record<string, unknown>).map(([header, value]): [string, string[]] => {
    const values = typeof value === "string" ? [value] : Array.isArray(value) && value.every((v) => typeof v === "string") ? [...(value as string[])] : undefined;
    if (!values || values.length === 0) throw new SetupError(`${name} filter headers.${header}`, "must be a string or a non-empty array of strings.");
    return [header, values];
  });
  if (headers.length === 0) throw new SetupError(`${name} filter headers`, "names no header.", "name at least one, or drop the filter to make the handler the default.");
  return { headers, doc: { headers: Object.fromEntries(headers) } };
}

function headersMatch(wanted: CompiledFilter["headers"], headers: MessageHeaders | undefined): boolean {
  if (!wanted) return true;
  for (const [name, values] of wanted) {
    if (!headers?.values(name).some((v) => values.includes(v))) return false;
  }
  return true;
}

/** Set once a handler's predicate took the message: what fails after it is the handler's, not a mismatch. */
const TAKEN = createContextKey<true>("natsflow:filter-taken");

/** Thrown by `predicateStage` when the predicate says no; caught by the router, never seen outside it. */
class Declined extends Error {}
const DECLINED = new Declined();

/**
 * The stage after a handler's decoding: its predicate sees the decoded (and validated) payload. It
 * runs synchronously, so a message pays for no extra promise; an async predicate is a mistake, answered 500.
 */
export function predicateStage(name: string, predicate: NonNullable<CompiledFilter["predicate"]>): Middleware {
  return (ctx, next) => {
    const verdict: unknown = predicate(ctx.payload as never, ctx);
    if (verdict === false) throw DECLINED;
    if (verdict !== true) throw new HandlerError(`the filter of ${name} returned ${typeof verdict}, not a boolean; filters are synchronous`);
    ctx.set(TAKEN, true);
    return next();
  };
}

/** A handler as the router sees it: what it is called, its chain, its filter. */
export interface Routable {
  readonly info: HandlerInfo;
  readonly logger: Logger;
  readonly run: (ctx: MessageContext) => Promise<void>;
  readonly filter: CompiledFilter | undefined;
  /** Its router's outgoing chain, if any (see `Propagation.outgoing`). */
  readonly propagation: { readonly outgoing?: OutgoingChain | undefined };
}

/**
 * One run function for handlers sharing a subscription: the first whose filter matches, in
 * declaration order, runs; the one without a filter (at most one) runs when none does. Header
 * filters are checked before any decoding. A predicate handler's chain is tried: a payload its codec
 * or schema refuses, or its predicate declines, passes the message on to the next handler. None
 * matching is a `NoMatchError`, logged and counted as `group`'s (the shared subscription).
 */
export function routeByFilter(members: readonly Routable[], group: Pick<Routable, "info" | "logger">): (ctx: MessageContext) => Promise<void> {
  const filtered = members.filter((m) => m.filter);
  const fallback = members.find((m) => !m.filter);
  return async (ctx) => {
    for (const m of filtered) {
      const filter = m.filter as CompiledFilter;
      if (!headersMatch(filter.headers, ctx.message.headers)) continue;
      ctx.routeTo(m.info, m.logger, m.propagation.outgoing);
      if (!filter.predicate) return m.run(ctx);
      try {
        return await m.run(ctx);
      } catch (error) {
        // Failed after its predicate took the message: the handler's own failure.
        if (ctx.get(TAKEN)) throw error;
        // Refused by its decoding or validation (documented), or declined: the next one may take it.
        if (error !== DECLINED && !(error instanceof HandlerError && (error.code === 400 || error.code === 413))) throw error;
      }
    }
    if (!fallback) {
      ctx.routeTo(group.info, group.logger);
      throw new NoMatchError();
    }
    ctx.routeTo(fallback.info, fallback.logger, fallback.propagation.outgoing);
    return fallback.run(ctx);
  };
}
