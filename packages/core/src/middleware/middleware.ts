import type { Constructor } from "../di/providers.js";
import type { MessageContext } from "../dispatch/context.js";

export type Next = () => Promise<void>;

/** Onion middleware: work before `next()` runs on the way in, after it on the way out. */
export type Middleware = (ctx: MessageContext, next: Next) => Promise<void>;

/** A middleware class resolved once from the app's container at bootstrap, so it can inject services. */
export interface NatsMiddleware {
  use(ctx: MessageContext, next: Next): Promise<void>;
}

export type MiddlewareClass = Constructor<NatsMiddleware>;

/** What decorators and app options accept: a function, or an injectable class. */
export type MiddlewareSpec = Middleware | MiddlewareClass;
