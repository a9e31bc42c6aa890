import type { DependencyContainer, InjectionToken } from "tsyringe";

import type { OutgoingChain, OutgoingMiddleware } from "../broker/outgoing.js";
import { MessageContext } from "../dispatch/context.js";
import type { Propagation } from "../dispatch/current.js";
import { compileFilter, predicateStage, routeByFilter, type CompiledFilter } from "../dispatch/filter.js";
import { catching, type ExceptionHandler } from "../dispatch/exceptions.js";
import type { HandlerInfo } from "../dispatch/handler-info.js";
import { describeToken, type Constructor } from "../di/providers.js";
import { OverloadedError, quoted, SetupError, ValidationError } from "../errors.js";
import type { HandlerBinding, HandlerDoc, HandlerKind, SourceShare, SourceSite, SourceSpec } from "../kinds/kind.js";
import { kindOf, runtimeHandler, type AppSubscribeOptions } from "../kinds/registry.js";
import type { Logger } from "../logging/logger.js";
import { compose } from "../middleware/compose.js";
import type { Middleware, MiddlewareClass, MiddlewareSpec } from "../middleware/middleware.js";
import { resolvePublishTargets } from "../pipeline/publish.js";
import { RESOLVED } from "../resolved.js";
import type { ResourceRegistry } from "../resources/resource.js";
import { checkMetadata } from "../service/micro.js";
import { compileSubject, queueProblem, wildcardParam, type CompiledSubject } from "../subjects.js";
import {
  decoratedMethods,
  getCatch,
  getControllerMetadata,
  getHandlers,
  getParams,
  getPublish,
  getUse,
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
      case "context": {
        const { key } = p;
        resolvers[p.index] = (ctx) => ctx.get(key);
        break;
      }
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
  /** The app's streams, buckets and stores: what handlers declare here is set up at start. */
  readonly resources: ResourceRegistry;
  /** The routers' prefixes, joined: put before each controller's prefix (for kinds that take one). */
  readonly prefix: string | undefined;
  /** The nearest router's default queue group, for kinds that take one and handlers that name none. */
  readonly queue: string | undefined;
  /** The routers' tags, outermost first. */
  readonly tags: readonly string[];
  /** Where in the app, for start-up errors: "" or "routers[0] (billing) > ". */
  readonly path: string;
  /** Exception handlers of the app, then of each router, outermost first. */
  readonly catchers: readonly (readonly ExceptionHandler[])[];
  /** The routers' outgoing middleware, outermost first (the app's is in every chain already): around its handlers' `@Publish` targets. */
  readonly outgoing: readonly OutgoingMiddleware[];
}

/** What a router adds to the context its controllers are bound in. */
export interface RouterScope {
  readonly prefix: string | undefined;
  readonly queue: string | undefined;
  readonly tags: readonly string[];
  readonly middleware: readonly MiddlewareSpec[];
  readonly exceptionHandlers: readonly ExceptionHandler[];
  /** "routers[0] (billing) > " */
  readonly path: string;
  /** Its and its parents' outgoing middleware, outermost first, and the chain (the app's, then those) of Broker sends made by its handlers. */
  readonly outgoing: { readonly middleware: readonly OutgoingMiddleware[]; readonly chain: OutgoingChain | undefined };
}

export function exploreContext(
  container: DependencyContainer,
  appMiddleware: readonly MiddlewareSpec[],
  logger: Logger,
  propagation: Omit<Propagation, "reachesBroker">,
  reachesBroker: (cls: Constructor) => boolean,
  resources: ResourceRegistry,
  exceptionHandlers: readonly ExceptionHandler[],
): ExploreContext {
  return {
    container,
    outer: appMiddleware.map((m, i) => resolveMiddleware(container, m, `middleware[${i}]`)),
    appMiddlewareClasses: appMiddleware.filter(isMiddlewareClass),
    logger,
    propagation,
    reachesBroker,
    resources,
    prefix: undefined,
    queue: undefined,
    tags: [],
    path: "",
    catchers: [exceptionHandlers],
    outgoing: [],
  };
}

/**
 * The context of a router's controllers: its own container, the parent's middleware then its own
 * (resolved in its container), the prefixes joined, its queue (else the parent's), the tags added.
 */
export function routerContext(parent: ExploreContext, container: DependencyContainer, scope: RouterScope, reachesBroker: (cls: Constructor) => boolean): ExploreContext {
  return {
    ...parent,
    container,
    outer: [...parent.outer, ...scope.middleware.map((m, i) => resolveMiddleware(container, m, `${scope.path}middleware[${i}]`))],
    appMiddlewareClasses: [...parent.appMiddlewareClasses, ...scope.middleware.filter(isMiddlewareClass)],
    reachesBroker,
    prefix: joinSubject(parent.prefix, scope.prefix),
    queue: scope.queue ?? parent.queue,
    tags: [...parent.tags, ...scope.tags],
    path: scope.path,
    catchers: [...parent.catchers, scope.exceptionHandlers],
    outgoing: scope.outgoing.middleware,
    propagation: { ...parent.propagation, outgoing: scope.outgoing.chain },
  };
}

function joinSubject(first: string | undefined, second: string | undefined): string | undefined {
  return first && second ? `${first}.${second}` : first || second;
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

/** The kind checks the handler's declared options: `site` says where the handler is, its parameters what it reads. */
function resolveSource(x: ExploreContext, kind: HandlerKind, options: unknown, site: Omit<SourceSite, "reads" | "use">, params: readonly ParamSpec[]): SourceSpec {
  return kind.resolve(options, {
    ...site,
    reads: (key) => params.some((p) => p.kind === "context" && p.key === key),
    use: (resource) => x.resources.use(resource),
  });
}

/** What every binding has: its limits checked, its chain and its overflow chain composed once. */
function binding(
  x: ExploreContext,
  info: HandlerInfo,
  bounds: { concurrency: number; maxPending: number },
  chain: readonly Middleware[],
  overflowChain: readonly Middleware[],
  invoke: (ctx: MessageContext) => Promise<void>,
  kind: HandlerKind,
  options: Pick<HandlerOptions, "metadata" | "correlation">,
  reachesBroker: boolean,
  doc: HandlerDoc,
  params: CompiledSubject["params"],
  source: SourceSpec,
  // Nearest first: method, class, routers, app.
  catchers: readonly (readonly ExceptionHandler[])[],
  filter: CompiledFilter | undefined,
): HandlerBinding {
  const wrongQueue = info.queue === undefined ? undefined : queueProblem(info.queue);
  const fanOut = kind.queued && info.queue === undefined;
  if (wrongQueue) throw new SetupError(`${info.name} queue`, `${quoted(String(info.queue))} is not a queue group name: ${wrongQueue}.`);
  return {
    info,
    doc,
    source,
    filter,
    fanOut,
    container: x.container,
    ...bounds,
    metadata: checkMetadata(`${info.name} metadata`, options.metadata),
    propagation: { ...x.propagation, ...(options.correlation === false ? { correlation: undefined } : {}), reachesBroker },
    logger: x.logger.child({ handler: info.name }),
    run: checkingParams(params, catching(catchers, compose(chain, invoke))),
    overflow: compose(overflowChain, overloaded),
  };
}

/** Called by `app.subscribe` with the decoded payload and the message's context; what it returns is the reply. */
export type SubscribeFunction = (payload: never, ctx: MessageContext) => unknown;

/**
 * A function handler (`app.subscribe`, a router's `subscriptions`): the stages of a `@Subscribe`
 * handler, then the app (and router) middleware, then the function; the same limits, errors and
 * dispatcher as a decorated handler. In a router, its prefix and default queue apply.
 */
export function bindFunction(x: ExploreContext, subject: string, options: AppSubscribeOptions, fn: SubscribeFunction): HandlerBinding {
  const address = x.prefix ? `${x.prefix}.${subject}` : subject;
  const name = options.name ?? address;
  if (typeof name !== "string" || name === "") throw new SetupError(`subscribe(${JSON.stringify(subject)}) name`, "must be a non-empty string.");
  if (typeof fn !== "function") throw new SetupError(name, `is ${typeof fn}, not a handler function.`);
  const compiled = compileSubject(x.prefix, subject);
  if (typeof compiled === "string") throw new SetupError(`${name} subject`, `${compiled}.`);
  const { kind, stages } = runtimeHandler(name, options, x.container);
  const queue = options.queue ?? x.queue;
  const filter = compileFilter(name, options.filter);
  const invoke = invoker((ctx) => fn(ctx.payload as never, ctx));
  const bounds = limits(name, options);
  const source = resolveSource(x, kind, undefined, { name, filter: compiled.filter, address, queue, concurrency: bounds.concurrency }, []);
  const doc = { params: [...compiled.params.keys()], description: { schema: options.schema, codec: options.codec, summary: options.summary }, publishes: [], tags: x.tags };
  const info = { name, subject: compiled.filter, queue };
  const chain = [...stages, ...filterStages(name, filter), ...x.outer];
  return binding(x, info, bounds, chain, stages, invoke, kind, options, true, doc, compiled.params, source, [...x.catchers].reverse(), filter);
}

/** A predicate filter runs after the kind's stages, on the payload they decoded and validated. */
function filterStages(name: string, filter: CompiledFilter | undefined): Middleware[] {
  return filter?.predicate ? [predicateStage(name, filter.predicate)] : [];
}

function bindHandler(x: ExploreContext, controller: Constructor, singleton: object | undefined, meta: HandlerMetadata): HandlerBinding {
  const { container } = x;
  const name = `${controller.name}.${String(meta.method)}`;
  const kind = kindOf(meta.source, name);
  const prefix = kind.prefixed ? joinSubject(x.prefix, getControllerMetadata(controller)?.prefix) : undefined;
  if (meta.fixedSubject && prefix) {
    throw new SetupError(
      `${x.path}${name}`,
      `listens on the fixed subject ${meta.subject}, which the prefix ${JSON.stringify(prefix)} would change: it would never receive a message.`,
      `list ${controller.name} in the app's controllers, or in a router without a prefix.`,
    );
  }
  const compiled = compileSubject(prefix, meta.subject);
  if (typeof compiled === "string") throw new SetupError(`${name} subject`, `${compiled}.`);
  const bounds = limits(name, meta.options);
  const method = (controller.prototype as Record<string | symbol, unknown>)[meta.method];
  if (typeof method !== "function") throw new SetupError(name, `is not a method of ${controller.name}.`);
  const params = getParams(controller, meta.method);
  for (const p of params) {
    // A slot only some kinds' sources fill (`@Delivery()`, `@KvEntry()`).
    if (p.kind === "context" && !p.kinds.includes(kind.name)) throw new SetupError(`${name} ${p.decorator}`, ...p.elsewhere);
  }
  const args = buildArgs(argResolvers(name, params, compiled.params));
  const address = prefix ? `${prefix}.${meta.subject}` : meta.subject;
  const queue = meta.options.queue ?? (kind.queued ? x.queue : undefined);
  const where = { name, filter: compiled.filter, address, queue, concurrency: bounds.concurrency };
  const source = resolveSource(x, kind, meta.source?.options, where, params);
  const publishes = resolvePublishTargets(name, getPublish(controller, meta.method), x.resources, x.outgoing);
  const site = { target: controller, method: meta.method, name, container, publishes };
  const pipeline = meta.pipeline(site).map((m, i) => resolveMiddleware(container, m, `${name} pipeline[${i}]`));
  const overflowChain = meta.overflow ? meta.overflow(site).map((m, i) => resolveMiddleware(container, m, `${name} overflow[${i}]`)) : pipeline;
  const filter = compileFilter(name, meta.options.filter);
  const chain = [
    ...pipeline,
    ...filterStages(name, filter),
    ...x.outer,
    ...getUse(controller).map((m, i) => resolveMiddleware(container, m, `${controller.name} @Use[${i}]`)),
    ...getUse(controller, meta.method).map((m, i) => resolveMiddleware(container, m, `${name} @Use[${i}]`)),
  ];
  // Whether its code can call the Broker (so its messages must be the current one while they run).
  const used = [controller, ...x.appMiddlewareClasses, ...[...getUse(controller), ...getUse(controller, meta.method)].filter(isMiddlewareClass)];
  const reachesBroker = used.some((c) => x.reachesBroker(c as Constructor));
  const fn = method as (...a: unknown[]) => unknown;
  const invoke = invoker((ctx) => fn.apply(singleton ?? ctx.container.resolve(controller), args(ctx)));
  const info: HandlerInfo = { name, subject: compiled.filter, queue };
  const doc = { params: [...compiled.params.keys()], description: meta.describe, publishes, tags: x.tags };
  const catchers = [getCatch(controller, meta.method), getCatch(controller), ...[...x.catchers].reverse()];
  return binding(x, info, bounds, chain, overflowChain, invoke, kind, meta.options, reachesBroker, doc, compiled.params, source, catchers, filter);
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
    const where = `${x.path}controllers[${i}] (${describeToken(controller)})`;
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
  return { bindings, instances };
}

/**
 * What the app opens for its handlers (its own, its routers' and run-time ones): one binding per
 * source, handlers that read the same source (`SourceSpec.share`) grouped into one, in declaration order.
 */
export function openSources(x: ExploreContext, bindings: readonly HandlerBinding[]): HandlerBinding[] {
  return groupBySource(bindings).map((group) => shared(x, group));
}

/** Handlers by the source they would read (`SourceSpec.share`: one subject and queue, one durable), in declaration order. */
function groupBySource(bindings: readonly HandlerBinding[]): HandlerBinding[][] {
  const groups = new Map<unknown, HandlerBinding[]>();
  for (const b of bindings) {
    // A source no other handler can share is a group of its own.
    const key = b.source.share?.key ?? b;
    const group = groups.get(key);
    if (group) group.push(b);
    else groups.set(key, [b]);
  }
  return [...groups.values()];
}

/**
 * What opens a group's one source: its binding when it is one handler without a filter (so a plain
 * subscription pays nothing for routing), else a binding whose run routes each message by filter
 * (`routeByFilter`). Refuses a group the handlers cannot share: two defaults, different terms
 * (a durable's subject or settings), different limits.
 */
function shared(x: ExploreContext, group: readonly HandlerBinding[]): HandlerBinding {
  const first = group[0] as HandlerBinding;
  if (group.length === 1 && !first.filter) return first;
  let fallback: HandlerBinding | undefined;
  for (const b of group) {
    const share = b.source.share as SourceShare;
    if (b !== first && share.terms !== first.source.share?.terms) throw share.mismatch ? share.mismatch(first.info.name) : share.conflict(first.info.name);
    if (!b.filter) {
      if (fallback) throw share.conflict(fallback.info.name);
      fallback = b;
    }
    for (const limit of ["concurrency", "maxPending"] as const) {
      if (b[limit] !== first[limit]) {
        throw new SetupError(`${b.info.name} ${limit}`, `is ${b[limit]}, but ${first.info.name}, which reads the same source, has ${first[limit]}.`, `give the handlers sharing it the same ${limit}.`);
      }
    }
  }
  if (group.length === 1) return { ...first, run: routeByFilter(group, first) };
  // The shared subscription in logs, the in-flight gauge and micro discovery; each message is then logged and counted as its handler's.
  const name = group.map((b) => b.info.name).join("|");
  const info = { ...first.info, name };
  const logger = x.logger.child({ handler: name });
  return {
    ...first,
    info,
    logger,
    run: routeByFilter(group, { info, logger }),
    filter: undefined,
    metadata: Object.assign({}, ...group.map((b) => b.metadata)) as Record<string, string>,
    // Any member's router chain makes its messages current; the one each runs through is set as it is routed.
    propagation: { ...first.propagation, reachesBroker: group.some((b) => b.propagation.reachesBroker), outgoing: group.find((b) => b.propagation.outgoing)?.propagation.outgoing },
  };
}
