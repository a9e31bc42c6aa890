import { Lifecycle, type DependencyContainer } from "tsyringe";

import { Broker } from "../broker/broker.js";
import { isOutgoingMiddlewareClass, type OutgoingMiddleware, type OutgoingMiddlewareSpec } from "../broker/outgoing.js";
import type { Publishers } from "../broker/publisher.js";
import type { Overrides } from "../di/overrides.js";
import { PUBLISHERS } from "../di/tokens.js";
import { checkExceptionHandlers, type ExceptionHandler } from "../dispatch/exceptions.js";
import { canReach, checkDependencies, inheritProviders, registerProviders, type Constructor, type Provider, type RegisteredProviders } from "../di/providers.js";
import type { MessageContext } from "../dispatch/context.js";
import { SetupError } from "../errors.js";
import type { HandlerBinding } from "../kinds/kind.js";
import type { AppSubscribeOptions } from "../kinds/registry.js";
import { bindFunction, exploreControllers, middlewareClasses, resolveOrExplain, routerContext, type ExploreContext, type SubscribeFunction } from "../metadata/explorer.js";
import { getControllerMetadata, getHandlers } from "../metadata/handler-metadata.js";
import type { MiddlewareSpec } from "../middleware/middleware.js";
import { queueProblem } from "../subjects.js";

export interface RouterOptions {
  /** Joined with "." before the prefixes and subjects of everything it includes; may hold `{param}` tokens. */
  prefix?: string;
  /** How start-up errors name it; default its prefix. */
  name?: string;
  controllers?: Constructor[];
  /** Function handlers, as `app.subscribe` takes them: `{ subject, options?, handle(payload, ctx) }` (subject relative to the prefix). */
  subscriptions?: RouterSubscription[];
  /** Routers it includes: their prefixes are joined to its own. */
  routers?: Router[];
  /**
   * Providers of its own container, a child of the app's (or its parent router's): its controllers,
   * middleware and providers resolve these first, then the parent's.
   */
  providers?: Provider[];
  /** Around each of its handlers, inside the app's and its parent routers' middleware, outside `@Use`. */
  middleware?: MiddlewareSpec[];
  /**
   * Outgoing middleware around every send of its handlers — `@Publish`, declared publishers injected
   * into its classes, and Broker calls made while one of its messages is handled — inside the app's
   * and its parent routers', outside the sender's own.
   */
  outgoingMiddleware?: OutgoingMiddlewareSpec[];
  /** Queue group of its handlers that name none, for kinds that take one (`@Subscribe`); the nearest router's wins. */
  queue?: string;
  /** Exception handlers (`catchErrors(…)`) of its handlers: tried after `@Catch` on the method and class, before its parents' and the app's. */
  exceptionHandlers?: ExceptionHandler[];
  /** Tags of its handlers' operations in the AsyncAPI document, after those of its parent routers. */
  tags?: string[];
}

/** A function handler of a router: `handle`'s return value is the reply, as with `app.subscribe`. */
export interface RouterSubscription {
  readonly subject: string;
  readonly options?: AppSubscribeOptions;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the payload is what its schema or codec makes it
  readonly handle: (payload: any, ctx: MessageContext) => unknown;
}

const ROUTER = Symbol.for("natsflow:router");

/** A group of handlers under a subject prefix: made by `defineRouter`, included in an app (`routers`) or a router. */
export interface Router extends Readonly<RouterOptions> {
  readonly [ROUTER]: true;
}

/** A router (FastStream's `NatsRouter(prefix=…)`): include it with `NatsApp.create({ routers: [...] })` or another router's `routers`. */
export function defineRouter(options: RouterOptions): Router {
  if (options === null || typeof options !== "object") throw new SetupError("defineRouter options", "must be an object like { prefix, controllers }.");
  return Object.freeze({ ...options, [ROUTER]: true as const });
}

function isRouter(value: unknown): value is Router {
  return typeof value === "object" && value !== null && (value as Partial<Router>)[ROUTER] === true;
}

/** An optional list option: `[]` when left out. */
export function list<T>(setting: string, value: T[] | undefined): T[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new SetupError(setting, "must be an array.");
  return value;
}

/** `outgoingMiddleware` of the app or a router, checked: functions or classes with `use`. */
export function outgoingSpecs(setting: string, value: OutgoingMiddlewareSpec[] | undefined): OutgoingMiddlewareSpec[] {
  const given = list(setting, value);
  given.forEach((f, i) => {
    if (typeof f !== "function") throw new SetupError(`${setting}[${i}]`, `is ${typeof f}, not a middleware function or class.`, "pass async (message, next) => { …; await next(); }, or a class with use(message, next).");
  });
  return given;
}

/** Outgoing middleware as functions: each class created once, in `container`, so it can inject what it provides. */
export function resolveOutgoing(container: DependencyContainer, specs: readonly OutgoingMiddlewareSpec[], setting: string): OutgoingMiddleware[] {
  return specs.map((spec, i) => {
    if (!isOutgoingMiddlewareClass(spec)) return spec;
    const instance = resolveOrExplain(container, spec, `${setting}[${i}]`);
    return (message, next) => instance.use(message, next);
  });
}

/** Refuses a class with handlers listed as a provider: it would be made, but none of its handlers subscribed. */
export function checkProviderList(path: string, providers: readonly Provider[], controllers: readonly Constructor[]): void {
  providers.forEach((p, i) => {
    if (typeof p === "function" && getHandlers(p).length > 0 && !controllers.includes(p)) {
      throw new SetupError(`${path}providers[${i}] (${p.name})`, "has handlers (@AuthCallout or @Subscribe…) but is listed as a provider, so none of them would run.", `move ${p.name} to controllers.`);
    }
  });
}

/** Where routers are mounted: the context and providers of what includes them. */
export interface Mount {
  readonly x: ExploreContext;
  readonly registered: RegisteredProviders;
}

/** What mounting routers made: their handlers, their instances (for lifespan hooks), their containers (disposed at stop). */
export interface Mounted {
  readonly bindings: HandlerBinding[];
  readonly instances: unknown[];
  readonly containers: DependencyContainer[];
}

/**
 * Mounts `routers` (checked here, where their place in the app is known) and the routers they
 * include: a child container each, its providers made and checked, its controllers bound.
 * `reaches`: the tokens that let a class call the Broker.
 */
export function mountRouters(parent: Mount, routers: readonly unknown[], reaches: readonly unknown[], overrides: Overrides, into: Mounted): void {
  routers.forEach((router, i) => {
    const at = `${parent.x.path}routers[${i}]`;
    if (!isRouter(router)) throw new SetupError(at, `is ${router === null ? "null" : typeof router}, not a router.`, "make it with defineRouter({ prefix, controllers, … }).");
    const { prefix, name, queue } = router;
    if (prefix !== undefined && typeof prefix !== "string") throw new SetupError(`${at} prefix`, `must be a string, got ${typeof prefix}.`);
    if (name !== undefined && (typeof name !== "string" || name === "")) throw new SetupError(`${at} name`, "must be a non-empty string.");
    const path = `${at} (${name ?? (prefix || "no prefix")}) > `;
    if (queue !== undefined && (typeof queue !== "string" || queueProblem(queue))) {
      throw new SetupError(`${path}queue`, `${JSON.stringify(queue)} is not a queue group name${typeof queue === "string" ? `: ${queueProblem(queue)}` : ""}.`);
    }
    const tags = list(`${path}tags`, router.tags);
    if (tags.some((t) => typeof t !== "string" || t === "")) throw new SetupError(`${path}tags`, "must be non-empty strings.");
    const controllers = list(`${path}controllers`, router.controllers);
    const providers = list(`${path}providers`, router.providers);
    const middleware = list(`${path}middleware`, router.middleware);
    const outgoingMiddleware = outgoingSpecs(`${path}outgoingMiddleware`, router.outgoingMiddleware);
    checkProviderList(path, providers, controllers);

    const container = parent.x.container.createChildContainer();
    into.containers.push(container);
    const own = registerProviders(container, overrides.apply(providers), path);
    for (const c of controllers) {
      if (typeof c === "function" && getControllerMetadata(c)?.scope !== "message") {
        container.register(c, { useClass: c }, { lifecycle: Lifecycle.Singleton });
        own.classes.set(c, c);
      }
    }
    const registered = inheritProviders(parent.registered, own);
    const outgoingClasses = outgoingMiddleware.filter(isOutgoingMiddlewareClass);
    checkDependencies(container, registered, controllers, [...middlewareClasses(controllers, middleware), ...outgoingClasses], { path, own });
    const outgoing = outgoingMiddleware.length === 0 ? undefined : resolveOutgoing(container, outgoingMiddleware, `${path}outgoingMiddleware`);
    if (outgoing) {
      // Before anything here is made: publishers injected into its classes get handles whose chains hold its outgoing middleware.
      container.register(PUBLISHERS, { useValue: parent.x.container.resolve<Publishers>(PUBLISHERS).within(outgoing) });
    }
    // Like the app's: every router-scoped provider is made now, so a broken one fails at create.
    into.instances.push(...own.app.map((token, j) => resolveOrExplain(container, token, `${path}providers[${j}]`)));
    const exceptionHandlers = checkExceptionHandlers(`${path}exceptionHandlers`, router.exceptionHandlers);
    const sends = outgoing ? [...parent.x.outgoing, ...outgoing] : parent.x.outgoing;
    const chain = outgoing ? container.resolve(Broker).outgoing.routerChain(sends) : parent.x.propagation.outgoing;
    const scope = { prefix: prefix || undefined, queue, tags, middleware, exceptionHandlers, path, outgoing: { middleware: sends, chain } };
    const x = routerContext(parent.x, container, scope, (cls) => canReach(container, registered, cls, reaches));
    const explored = exploreControllers(x, controllers);
    into.bindings.push(...explored.bindings);
    into.instances.push(...explored.instances);
    list(`${path}subscriptions`, router.subscriptions).forEach((s, j) => {
      if (s === null || typeof s !== "object" || typeof s.subject !== "string") throw new SetupError(`${path}subscriptions[${j}]`, "is not a { subject, options?, handle } object.");
      into.bindings.push(bindFunction(x, s.subject, s.options ?? {}, s.handle as SubscribeFunction));
    });
    mountRouters({ x, registered }, list(`${path}routers`, router.routers), reaches, overrides, into);
  });
}
