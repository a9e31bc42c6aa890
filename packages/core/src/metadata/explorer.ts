import type { DependencyContainer, InjectionToken } from "tsyringe";

import { MessageContext, type HandlerInfo } from "../dispatch/context.js";
import { describeToken, type Constructor } from "../di/providers.js";
import { OverloadedError, quoted, SetupError, ValidationError } from "../errors.js";
import type { Propagation } from "../dispatch/current.js";
import type { ConsumeSpec } from "../jetstream/consume-options.js";
import type { ResolvedStream } from "../jetstream/stream.js";
import { resolvePublishTargets, type PublishTarget } from "../pipeline/subscribe-pipeline.js";
import { DELIVERY } from "../jetstream/delivery.js";
import { KV_ENTRY, type KvWatchSpec } from "../jetstream/kv-watch.js";
import type { ObjectWatchSpec } from "../jetstream/object-watch.js";
import type { Logger } from "../logging/logger.js";
import { subscribeStages, type SubscribeOptions } from "../decorators/subscribe.js";
import { compose } from "../middleware/compose.js";
import type { Middleware, MiddlewareClass, MiddlewareSpec } from "../middleware/middleware.js";
import { checkMetadata } from "../service/micro.js";
import { compileSubject, queueProblem, wildcardParam, type CompiledSubject } from "../subjects.js";
import {
  decoratedMethods,
  getControllerMetadata,
  getHandlers,
  getParams,
  getPublish,
  getUse,
  type HandlerDescription,
  type HandlerMetadata,
  type HandlerOptions,
  type ParamSpec,
} from "./handler-metadata.js";

export const DEFAULT_CONCURRENCY = 64;
/**
 * Messages a handler lets wait beyond `concurrency` unless told otherwise: 16 rounds of the default
 * concurrency. Enough to ride out a burst; past it a flood is answered 503 at once instead of
 * growing memory without limit and queueing requests past any caller's timeout.
 */
export const DEFAULT_MAX_PENDING = 1024;
const RESOLVED = Promise.resolve();

/** A handler made ready to serve: its subject, its limits, and its composed chain. */
export interface HandlerBinding {
  readonly info: HandlerInfo;
  readonly concurrency: number;
  readonly maxPending: number;
  readonly logger: Logger;
  readonly run: (ctx: MessageContext) => Promise<void>;
  /** Answers a message that found the queue full, without running the handler. */
  readonly overflow: (ctx: MessageContext) => Promise<void>;
  /** For `@Consume` handlers: the stream and durable they read. */
  readonly consume?: ConsumeSpec;
  /** Streams the handler reads or publishes to: set up at start. */
  readonly streams: readonly ResolvedStream[];
  /** For `@WatchKv` and `@WatchObjects` handlers: what they watch. */
  readonly watch?: KvWatchSpec | ObjectWatchSpec;
  /** Endpoint metadata for NATS micro discovery; `{}` when none. */
  readonly metadata: Readonly<Record<string, string>>;
  /** How its messages are correlated and traced. */
  readonly propagation: Propagation;
  /** What the AsyncAPI document says of it. */
  readonly doc: HandlerDoc;
}

/** A handler as the AsyncAPI document describes it. */
export interface HandlerDoc {
  /** The subject with its `{param}` tokens, prefix included. */
  readonly address: string;
  readonly params: readonly string[];
  readonly description: HandlerDescription | undefined;
  readonly publishes: readonly PublishTarget[];
}

function isMiddlewareClass(spec: MiddlewareSpec): spec is MiddlewareClass {
  return typeof spec === "function" && typeof (spec.prototype as { use?: unknown } | undefined)?.use === "function";
}

// One instance per middleware class per app, however many chains use it.
const middlewareInstances = new WeakMap<DependencyContainer, Map<MiddlewareClass, Middleware>>();

function resolveMiddleware(container: DependencyContainer, spec: MiddlewareSpec, where: string): Middleware {
  if (isMiddlewareClass(spec)) {
    let made = middlewareInstances.get(container);
    if (!made) middlewareInstances.set(container, (made = new Map()));
    let mw = made.get(spec);
    if (!mw) {
      const instance = resolveOrExplain(container, spec, where);
      mw = (ctx, next) => instance.use(ctx, next);
      made.set(spec, mw);
    }
    return mw;
  }
  if (typeof spec === "function") return spec as Middleware;
  throw new SetupError(where, `is ${typeof spec}, not a middleware function or class.`);
}

/** Resolves `token`, explaining a failure; what the container would get wrong about a class is refused earlier, by `checkDependencies`. */
export function resolveOrExplain<T>(container: DependencyContainer, token: InjectionToken<T>, where: string): T {
  try {
    return container.resolve(token);
  } catch (e) {
    if (e instanceof SetupError) throw e;
    throw new SetupError(
      where,
      `cannot create ${describeToken(token)}: ${(e as Error).message}`,
      "list every constructor dependency in `providers`, make classes with constructor arguments @injectable(), import classes used as " +
        "constructor types as values (not `import type`), and keep `emitDecoratorMetadata` on.",
      { cause: e },
    );
  }
}

type ArgResolver = (ctx: MessageContext) => unknown;

function argResolvers(name: string, params: readonly ParamSpec[], subjectParams: ReadonlyMap<string, number>): ArgResolver[] {
  const resolvers: ArgResolver[] = [];
  for (const p of params) {
    if (resolvers[p.index]) throw new SetupError(`${name} parameter #${p.index}`, "has two parameter decorators.");
    switch (p.kind) {
      case "payload":
        resolvers[p.index] = (ctx) => ctx.payload;
        break;
      case "headers":
        resolvers[p.index] = (ctx) => ctx.message.headers;
        break;
      case "subject":
        resolvers[p.index] = (ctx) => ctx.message.subject;
        break;
      case "msg":
        resolvers[p.index] = (ctx) => ctx.message;
        break;
      case "ctx":
        resolvers[p.index] = (ctx) => ctx;
        break;
      case "delivery":
        resolvers[p.index] = (ctx) => ctx.get(DELIVERY);
        break;
      case "kvEntry":
        resolvers[p.index] = (ctx) => ctx.get(KV_ENTRY);
        break;
      case "param": {
        const position = subjectParams.get(p.name ?? "");
        if (position === undefined) {
          const known = [...subjectParams.keys()].map((k) => `{${k}}`).join(", ") || "none";
          throw new SetupError(`${name} @Param("${p.name}")`, `the subject has no {${p.name}} token (it has ${known}).`, `add {${p.name}} to the subject or fix the name.`);
        }
        resolvers[p.index] = (ctx) => ctx.message.subject.split(".")[position];
        break;
      }
    }
  }
  return resolvers;
}

function buildArgs(resolvers: ArgResolver[]): (ctx: MessageContext) => unknown[] {
  if (resolvers.length === 0) return (ctx) => [ctx.payload];
  return (ctx) => {
    const args = new Array<unknown>(resolvers.length);
    for (let i = 0; i < resolvers.length; i++) args[i] = resolvers[i]?.(ctx);
    return args;
  };
}

/** What binding a handler needs from its app: the container, the app middleware (resolved once), the logger, correlation and tracing. */
export interface ExploreContext {
  readonly container: DependencyContainer;
  readonly outer: readonly Middleware[];
  readonly appMiddlewareClasses: readonly MiddlewareClass[];
  readonly logger: Logger;
  readonly propagation: Omit<Propagation, "reachesBroker">;
  /** Whether instances of a class can get hold of the Broker through their dependencies. */
  readonly reachesBroker: (cls: Constructor) => boolean;
}

export function exploreContext(
  container: DependencyContainer,
  appMiddleware: readonly MiddlewareSpec[],
  logger: Logger,
  propagation: Omit<Propagation, "reachesBroker">,
  reachesBroker: (cls: Constructor) => boolean,
): ExploreContext {
  return {
    container,
    outer: appMiddleware.map((m, i) => resolveMiddleware(container, m, `middleware[${i}]`)),
    appMiddlewareClasses: appMiddleware.filter(isMiddlewareClass),
    logger,
    propagation,
    reachesBroker,
  };
}

/** The middleware classes an app uses (app-wide and `@Use`): singletons, so the scope check covers them. */
export function middlewareClasses(controllers: readonly Constructor[], appMiddleware: readonly MiddlewareSpec[]): Constructor[] {
  const used = [...appMiddleware, ...controllers.flatMap((c) => (typeof c === "function" ? [...getUse(c), ...getHandlers(c).flatMap((h) => getUse(c, h.method))] : []))];
  return [...new Set(used.filter(isMiddlewareClass))] as Constructor[];
}

function limits(name: string, options: HandlerOptions): { concurrency: number; maxPending: number } {
  const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new SetupError(`${name} concurrency`, `must be a positive integer, got ${String(concurrency)}.`);
  }
  const maxPending = options.maxPending ?? DEFAULT_MAX_PENDING;
  if (!(maxPending >= 0) || (Number.isFinite(maxPending) && !Number.isInteger(maxPending))) {
    throw new SetupError(`${name} maxPending`, `must be a whole number ≥ 0 (or Infinity), got ${String(maxPending)}.`);
  }
  return { concurrency, maxPending };
}

/** The terminal step of a chain: calls the handler and keeps what it returned as `ctx.result`. */
function invoker(call: (ctx: MessageContext) => unknown): (ctx: MessageContext) => Promise<void> {
  // Not async: a handler that returns a plain value costs no promise of its own.
  return (ctx) => {
    let out: unknown;
    try {
      out = call(ctx);
    } catch (e) {
      return Promise.reject(e);
    }
    if (out !== null && typeof (out as PromiseLike<unknown> | undefined)?.then === "function") {
      return Promise.resolve(out).then((v) => {
        ctx.result = v;
      });
    }
    ctx.result = out;
    return RESOLVED;
  };
}

const overloaded = () => Promise.reject(new OverloadedError());

/**
 * `run`, for messages whose `{param}` tokens hold values: one that arrived on a wildcard or an empty
 * token (a client may publish on `orders.*.get`) is the caller's mistake, answered 400 before any middleware.
 */
function checkingParams(params: CompiledSubject["params"], run: (ctx: MessageContext) => Promise<void>): (ctx: MessageContext) => Promise<void> {
  if (params.size === 0) return run;
  return (ctx) => {
    const name = wildcardParam(ctx.message.subject, params);
    if (name === undefined) return run(ctx);
    // Invalid input like a bad payload: a consumer dead-letters it at once instead of retrying it.
    const description = `subject parameter {${name}} must be a value, not empty, * or >`;
    return Promise.reject(new ValidationError([{ path: `{${name}}`, message: "must be a value, not empty, * or >" }], { description }));
  };
}

/** What every binding has: its limits checked, its chain and its overflow chain composed once. */
function binding(
  x: ExploreContext,
  info: HandlerInfo,
  bounds: { concurrency: number; maxPending: number },
  chain: readonly Middleware[],
  overflowChain: readonly Middleware[],
  invoke: (ctx: MessageContext) => Promise<void>,
  options: Pick<HandlerOptions, "metadata" | "correlation">,
  reachesBroker: boolean,
  doc: HandlerDoc,
  params: CompiledSubject["params"],
): HandlerBinding {
  const wrongQueue = info.queue === undefined ? undefined : queueProblem(info.queue);
  if (wrongQueue) throw new SetupError(`${info.name} queue`, `${quoted(String(info.queue))} is not a queue group name: ${wrongQueue}.`);
  return {
    info,
    doc,
    ...bounds,
    metadata: checkMetadata(`${info.name} metadata`, options.metadata),
    propagation: { ...x.propagation, ...(options.correlation === false ? { correlation: undefined } : {}), reachesBroker },
    logger: x.logger.child({ handler: info.name }),
    run: checkingParams(params, compose(chain, invoke)),
    overflow: compose(overflowChain, overloaded),
    streams: [],
  };
}

/** Options of `app.subscribe`: those of `@Subscribe`, and a name for logs and metrics (default: the subject). */
export interface AppSubscribeOptions extends SubscribeOptions {
  name?: string;
}

/** Called by `app.subscribe` with the decoded payload and the message's context; what it returns is the reply. */
export type SubscribeFunction = (payload: never, ctx: MessageContext) => unknown;

/**
 * A handler added at run time (`app.subscribe`): the stages of a `@Subscribe` handler, then the app
 * middleware, then the function; the same limits, errors and dispatcher as a decorated handler.
 */
export function bindFunction(x: ExploreContext, subject: string, options: AppSubscribeOptions, fn: SubscribeFunction): HandlerBinding {
  const name = options.name ?? subject;
  if (typeof name !== "string" || name === "") throw new SetupError(`subscribe(${JSON.stringify(subject)}) name`, "must be a non-empty string.");
  if (typeof fn !== "function") throw new SetupError(name, `is ${typeof fn}, not a handler function.`);
  const compiled = compileSubject(undefined, subject);
  if (typeof compiled === "string") throw new SetupError(`${name} subject`, `${compiled}.`);
  const pipeline = subscribeStages(name, options, x.container, []);
  const invoke = invoker((ctx) => fn(ctx.payload as never, ctx));
  const bounds = limits(name, options);
  return binding(x, { name, subject: compiled.filter, queue: options.queue }, bounds, [...pipeline, ...x.outer], pipeline, invoke, options, true, {
    address: subject,
    params: [...compiled.params.keys()],
    description: { kind: "receive", schema: options.schema, codec: options.codec, summary: options.summary },
    publishes: [],
  }, compiled.params);
}

function bindHandler(x: ExploreContext, controller: Constructor, singleton: object | undefined, meta: HandlerMetadata): HandlerBinding {
  const { container } = x;
  const controllerMeta = getControllerMetadata(controller);
  const name = `${controller.name}.${String(meta.method)}`;
  const compiled = compileSubject(meta.watch ? undefined : controllerMeta?.prefix, meta.subject);
  if (typeof compiled === "string") throw new SetupError(`${name} subject`, `${compiled}.`);
  const bounds = limits(name, meta.options);
  const method = (controller.prototype as Record<string | symbol, unknown>)[meta.method];
  if (typeof method !== "function") throw new SetupError(name, `is not a method of ${controller.name}.`);
  const params = getParams(controller, meta.method);
  const takesDelivery = params.some((p) => p.kind === "delivery");
  if (takesDelivery && !meta.consume) throw new SetupError(`${name} @Delivery()`, "is only for @Consume handlers.", "remove it, or consume from a stream.");
  const watch = meta.watch?.({ name, filter: compiled.filter });
  if (params.some((p) => p.kind === "kvEntry") && watch?.kind !== "kv") throw new SetupError(`${name} @KvEntry()`, "is only for @WatchKv handlers.", "remove it, or watch a bucket.");
  const args = buildArgs(argResolvers(name, params, compiled.params));
  const consume = meta.consume?.({ name, filter: compiled.filter, concurrency: bounds.concurrency, takesDelivery });
  const publishes = resolvePublishTargets(name, getPublish(controller, meta.method));
  const site = { target: controller, method: meta.method, name, container, publishes };
  const pipeline = meta.pipeline(site).map((m, i) => resolveMiddleware(container, m, `${name} pipeline[${i}]`));
  const overflowChain = meta.overflow ? meta.overflow(site).map((m, i) => resolveMiddleware(container, m, `${name} overflow[${i}]`)) : pipeline;
  const chain = [
    ...pipeline,
    ...x.outer,
    ...getUse(controller).map((m, i) => resolveMiddleware(container, m, `${controller.name} @Use[${i}]`)),
    ...getUse(controller, meta.method).map((m, i) => resolveMiddleware(container, m, `${name} @Use[${i}]`)),
  ];
  // Whether its code can call the Broker (so its messages must be the current one while they run).
  const used = [controller, ...x.appMiddlewareClasses, ...[...getUse(controller), ...getUse(controller, meta.method)].filter(isMiddlewareClass)];
  const reachesBroker = used.some((c) => x.reachesBroker(c as Constructor));
  const fn = method as (...a: unknown[]) => unknown;
  const invoke = invoker((ctx) => fn.apply(singleton ?? ctx.container.resolve(controller), args(ctx)));
  const info: HandlerInfo = { name, subject: compiled.filter, queue: meta.options.queue };
  return {
    ...binding(x, info, bounds, chain, overflowChain, invoke, meta.options, reachesBroker, {
      address: meta.watch || !controllerMeta?.prefix ? meta.subject : `${controllerMeta.prefix}.${meta.subject}`,
      params: [...compiled.params.keys()],
      description: meta.describe,
      publishes,
    }, compiled.params),
    ...(consume ? { consume } : {}),
    streams: [...(consume ? [consume.stream] : []), ...publishes.flatMap((p) => (p.stream ? [p.stream] : []))],
    ...(watch ? { watch } : {}),
  };
}

/**
 * Bootstrap: create each controller through the container (so its constructor dependencies are
 * injected) and turn the metadata its decorators stored into ready-to-run handler bindings.
 */
export function exploreControllers(x: ExploreContext, controllers: readonly Constructor[]): { bindings: HandlerBinding[]; instances: object[] } {
  const { container, logger } = x;
  const bindings: HandlerBinding[] = [];
  const instances: object[] = [];
  controllers.forEach((controller, i) => {
    const where = `controllers[${i}] (${describeToken(controller)})`;
    const handlers = typeof controller === "function" ? getHandlers(controller) : [];
    if (handlers.length === 0) {
      throw new SetupError(where, "has no handlers.", "decorate the class with @AuthCallout() or give it @Subscribe() methods.");
    }
    const orphan = decoratedMethods(controller).find((m) => !handlers.some((h) => h.method === m));
    if (orphan !== undefined) {
      throw new SetupError(`${controller.name}.${String(orphan)}`, "has @Publish or parameter decorators but no @Subscribe.", "add @Subscribe(subject) to it.");
    }
    let singleton: object | undefined;
    if (getControllerMetadata(controller)?.scope === "message") {
      // Created per message from its container; creating one now, for an empty message, surfaces DI mistakes at start-up.
      const probe = new MessageContext({ subject: "", data: new Uint8Array(0) }, { name: where, subject: "" }, logger, container);
      resolveOrExplain(probe.container, controller, where);
      probe.dispose().catch(() => undefined);
    } else {
      singleton = resolveOrExplain(container, controller, where) as object;
      instances.push(singleton);
    }
    for (const meta of handlers) bindings.push(bindHandler(x, controller, singleton, meta));
  });
  const seen = new Map<string, string>();
  for (const b of bindings) {
    // Watchers and ordered consumers each see every entry: nothing to collide.
    if (b.watch || b.consume?.ordered) continue;
    const c = b.consume?.consumer;
    const key = c ? `\u0000js\u0000${c.stream}\u0000${c.durable}` : `${b.info.subject}\u0000${b.info.queue ?? ""}`;
    const other = seen.get(key);
    if (other && c) {
      throw new SetupError(`${b.info.name} durable`, `"${c.durable}" on stream ${c.stream} is also used by ${other}; one durable has one filter.`, "give each handler its own durable.");
    }
    if (other) {
      throw new SetupError(
        b.info.name,
        `listens on "${b.info.subject}"${b.info.queue ? ` in queue "${b.info.queue}"` : ""} like ${other}; each message would run twice.`,
        "give one of them another subject or queue group.",
      );
    }
    seen.set(key, b.info.name);
  }
  return { bindings, instances };
}
