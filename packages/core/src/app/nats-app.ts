import "reflect-metadata";
import cluster from "node:cluster";
import type { Server } from "node:http";
import { container as rootContainer, Lifecycle, type DependencyContainer, type InjectionToken } from "tsyringe";

import type { AsyncApiDocument, AsyncApiInfo } from "../asyncapi/document.js";
import { Broker } from "../broker/broker.js";
import { isOutgoingMiddlewareClass } from "../broker/outgoing.js";
import { publisherTokens, Publishers, type Publisher, type PublisherDeclaration } from "../broker/publisher.js";
import { MessageContext } from "../dispatch/context.js";
import { Overrides, type CreateOptions } from "../di/overrides.js";
import { canReach, checkDependencies, registerProviders } from "../di/providers.js";
import { hasHook, type LifespanHook } from "./lifespan.js";
import { HEADERS, LOGGER, MESSAGE, PUBLISHERS, RESOURCES } from "../di/tokens.js";
import { ConnectionError, NatsflowError } from "../errors.js";
import type { HandlerBinding, Source } from "../kinds/kind.js";
import type { AppSubscribeOptions } from "../kinds/registry.js";
import { createLogger, type Logger } from "../logging/logger.js";
import { bindFunction, exploreContext, openSources, middlewareClasses, exploreControllers, resolveOrExplain, type ExploreContext, type SubscribeFunction } from "../metadata/explorer.js";
import { getControllerMetadata } from "../metadata/handler-metadata.js";
import { Metrics } from "../observability/metrics.js";
import { Tracing } from "../observability/tracing.js";
import { ResourceRegistry } from "../resources/resource.js";
import type { Discovery, DiscoveryEndpoint } from "../service/discovery.js";
import { connectNats } from "../transport/nats-transport.js";
import type { Transport } from "../transport/transport.js";
import { resolveAppOptions, type NatsAppOptions, type ResolvedAppOptions } from "./options.js";
import { mountRouters, resolveOutgoing, type Mounted } from "./router.js";

type State = "created" | "starting" | "running" | "stopping" | "stopped";

/** A handler added with `app.subscribe`. */
export interface AppSubscription {
  /** The handler's name in logs and metrics. */
  readonly name: string;
  readonly subject: string;
  /** Drains it (what the server already sent is still handled) and resolves once those messages are answered. */
  unsubscribe(): Promise<void>;
}

/**
 * A NATS service: a DI container of its own, the handlers its controllers define, and one connection.
 * `create` builds everything that can fail without a server; `start` connects and subscribes;
 * `stop` drains the subscriptions, lets in-flight messages finish, drains and closes. The hooks of
 * `lifespan.ts` run around both.
 */
export class NatsApp {
  readonly container: DependencyContainer;
  /** The routers' containers, children of `container`, outermost first: disposed before it. */
  private readonly routerContainers: readonly DependencyContainer[];
  readonly logger: Logger;
  readonly broker: Broker;
  /** Prometheus metrics of this app; served on `/metrics` when the `http` option is set. */
  readonly metrics: Metrics;
  // The HTTP server and its address, when the `http` option is set.
  private http: { readonly server: Server; readonly url: string } | undefined;
  private connectedNow = false;
  private readonly bindings: HandlerBinding[];
  /** What `start` opens: one binding per source (handlers sharing one routed by their filters). */
  private readonly opened: HandlerBinding[];
  /** Providers and controllers with one instance per app, in creation order: lifespan hooks run on them. */
  private readonly instances: object[];
  /** Streams, KV buckets and object stores its handlers and handles use, made or verified at start. */
  private readonly resources = new ResourceRegistry();
  /** Its declared publishers, one handle each, listed in its AsyncAPI document. */
  private readonly publishers: Publishers;
  /** Where each handler's messages come from, once started: one per handler (or group sharing one), whatever its kind. */
  private readonly sources: Source[] = [];
  /** For `app.subscribe`: the app middleware, resolved once. */
  private readonly explore: ExploreContext;
  /** `app.subscribe` handlers waiting for `start` to subscribe them. */
  private readonly deferred: HandlerBinding[] = [];
  /** Handlers are subscribed: `app.subscribe` subscribes at once from here on. */
  private subscribed = false;
  private transport: Transport | undefined;
  /** Answers NATS micro discovery when the `service` option is set. */
  private discovery: Discovery | undefined;
  /** Spans and trace context, on when an OpenTelemetry SDK is registered at start (or forced by `tracing`). */
  private readonly tracing: Tracing;
  private state: State = "created";
  private starting: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  /** Set when a stop ran out of its budget and left work behind (a hook, a handler, a disposal). */
  private overran = false;
  private readonly stopRequested: Promise<void>;
  private requestStop!: () => void;

  private constructor(
    private readonly options: ResolvedAppOptions,
    overrides: Overrides,
  ) {
    this.stopRequested = new Promise((resolve) => (this.requestStop = resolve));
    this.metrics = new Metrics({ processMetrics: options.http?.processMetrics === true });
    // Two apps in one process tell their lines apart by name.
    this.logger = options.logger ?? createLogger(options.connection.name ? { name: options.connection.name } : {});
    this.container = rootContainer.createChildContainer();
    this.tracing = new Tracing(options.tracing);
    this.broker = new Broker(() => this.connected(), this.tracing);
    this.broker.onRefused = (err, subject) => this.logger.warn({ err, subject }, `publish to ${subject} not sent: an outgoing middleware refused it`);
    this.publishers = new Publishers(this.broker, this.resources);
    this.container.register(LOGGER, { useValue: this.logger });
    this.container.register(Broker, { useValue: this.broker });
    this.container.register(Metrics, { useValue: this.metrics });
    this.container.register(RESOURCES, { useValue: this.resources });
    this.container.register(PUBLISHERS, { useValue: this.publishers });
    // The constructor is private (use `create`), so the class is a token only by cast.
    this.container.register(NatsApp as unknown as InjectionToken<NatsApp>, { useValue: this });
    const providers = registerProviders(this.container, overrides.apply(options.providers));
    // Registered in each message's container: message-scoped, for the checks below.
    for (const token of [MessageContext, MESSAGE, HEADERS]) providers.message.add(token);
    for (const c of options.controllers) {
      if (typeof c === "function" && getControllerMetadata(c)?.scope !== "message") {
        this.container.register(c, { useClass: c }, { lifecycle: Lifecycle.Singleton });
        providers.classes.set(c, c);
      }
    }
    const outgoingClasses = options.outgoingMiddleware.filter(isOutgoingMiddlewareClass);
    checkDependencies(this.container, providers, options.controllers, [...middlewareClasses(options.controllers, options.middleware), ...outgoingClasses]);
    // Before anything that sends composes its chain: providers, publishers, handlers.
    this.broker.outgoing.use(resolveOutgoing(this.container, options.outgoingMiddleware, "outgoingMiddleware"));
    // Every app-scoped provider is created now: a broken one fails here, not on the first message.
    const provided = providers.app.map((token, i) => resolveOrExplain(this.container, token, `providers[${i}]`));
    options.publishers.forEach((p, i) => this.publishers.handle(p, `publishers[${i}]`));
    this.explore = exploreContext(
      this.container,
      options.middleware,
      this.logger,
      { correlation: options.correlationHeader, tracing: this.tracing },
      (cls) => canReach(this.container, providers, cls, [Broker, NatsApp, ...publisherTokens]),
      this.resources,
      options.exceptionHandlers,
    );
    const explored = exploreControllers(this.explore, options.controllers);
    const mounted: Mounted = { bindings: explored.bindings, instances: [...provided, ...explored.instances], containers: [] };
    mountRouters({ x: this.explore, registered: providers }, options.routers, [Broker, NatsApp], overrides, mounted);
    overrides.checkUsed();
    this.bindings = mounted.bindings;
    // The app's and its routers' handlers together: those reading one source share it.
    this.opened = openSources(this.explore, mounted.bindings);
    this.routerContainers = mounted.containers;
    this.instances = [...new Set(mounted.instances)].filter((x): x is object => typeof x === "object" && x !== null);
  }

  /**
   * Validates the options and creates the controllers; throws `SetupError` on bad configuration.
   * `overrides` replace providers by token (in the app and its routers) before any is made: for tests.
   */
  static async create(options: NatsAppOptions, { overrides }: CreateOptions = {}): Promise<NatsApp> {
    return new NatsApp(resolveAppOptions(options), new Overrides(overrides));
  }

  /** The handlers this app serves, as `{ name, subject, queue }`. */
  get handlers(): ReadonlyArray<HandlerBinding["info"]> {
    return this.bindings.map((b) => b.info);
  }

  /**
   * An AsyncAPI 3.0 document of every handler — decorated and run-time — from their metadata: channels,
   * operations, replies, payload schemas (zod 4 and valibot convert; others are described as any, with
   * a warning logged). Title and version default to the `service` option's.
   */
  async asyncapi(info: Partial<AsyncApiInfo> = {}): Promise<AsyncApiDocument> {
    // Loaded here: only apps that describe themselves pay for it.
    const { asyncApiDocument } = await import("../asyncapi/document.js");
    const runtime = this.sources.flatMap((s) => (this.opened.includes(s.binding) ? [] : [s.binding]));
    const { service, connection } = this.options;
    return asyncApiDocument(
      [...this.bindings, ...this.deferred, ...runtime],
      { title: info.title ?? service?.name ?? connection.name ?? "natsflow app", version: info.version ?? service?.version ?? "0.0.0", description: info.description ?? service?.description },
      [connection.servers].flat(),
      (message) => this.logger.warn(message),
      this.publishers.resolved,
    );
  }

  /**
   * This app's `Publisher` of a declared publisher (the one `@InjectPublisher` injects), for code
   * outside its handlers: it sends once the app has started. Throws `SetupError` for a bad declaration.
   */
  publisher<T, R>(declaration: PublisherDeclaration<T, R>): Publisher<T, R> {
    return this.publishers.handle(declaration, "app.publisher");
  }

  /** This instance's NATS micro id (`$SRV.PING.<name>.<id>`), once started with the `service` option. */
  get serviceId(): string | undefined {
    return this.discovery?.id;
  }

  get isRunning(): boolean {
    return this.state === "running";
  }

  /** Running, connected, and every subscription live (none ended by the server): what `/readyz` reports. */
  get isReady(): boolean {
    return this.state === "running" && this.connectedNow && !this.sources.some((s) => s.endedBy);
  }

  /** Where `/healthz`, `/readyz` and `/metrics` are served, when the `http` option is set. */
  get httpUrl(): string | undefined {
    return this.http?.url;
  }

  private setConnected(up: boolean): void {
    this.connectedNow = up;
    this.metrics.setConnected(up);
  }

  start(): Promise<void> {
    if (this.state !== "created") return Promise.reject(new NatsflowError(`cannot start an app that is ${this.state}`));
    this.state = "starting";
    this.starting = this.startUp();
    return this.starting;
  }

  private async startUp(): Promise<void> {
    await this.runHooks("onStartup", this.instances);
    // After onStartup, where an app may register its OpenTelemetry SDK.
    await this.tracing.decide();
    const factory = this.options.transport ?? connectNats;
    const connecting = factory(this.options.connection);
    try {
      // A stop while connecting does not wait for a server that may never answer (up to the connect timeout).
      this.transport = await Promise.race([connecting, this.stopRequested.then(() => undefined)]);
    } catch (e) {
      this.state = "stopped";
      throw e;
    }
    const transport = this.transport;
    if (!transport) {
      // Nothing was started; a connection made after all is closed at once.
      connecting.then((late) => late.close(), () => undefined);
      return;
    }
    this.watchConnection(transport);
    this.setConnected(true);
    try {
      // A stream, bucket or consumer that cannot be set up fails start like a connection that cannot be made.
      await this.resources.start(transport, this.logger);
      for (const binding of this.opened) await this.open(binding, transport);
      // From here on app.subscribe opens its handler at once.
      const deferred = this.deferred.splice(0);
      this.subscribed = true;
      for (const binding of deferred) await this.open(binding, transport);
      if (this.options.service) {
        const { Discovery } = await import("../service/discovery.js");
        // Request endpoints only, run-time ones included: sources that answer no requests keep no stats.
        const endpoints = () => this.sources.flatMap((s): DiscoveryEndpoint[] => (s.stats ? [{ info: s.binding.info, metadata: s.binding.metadata, stats: s.stats }] : []));
        this.discovery = new Discovery(this.options.service, endpoints, transport, this.logger);
        this.discovery.start();
      }
      // Subscriptions are live at the server once the round trip returns.
      await transport.flush();
      await this.runHooks("onReady", this.instances);
      // A port in use fails start like the rest; /readyz says 503 until the state below.
      if (this.options.http) {
        // Like the micro service above, loaded only by the apps that ask for it.
        const { httpAddress, startHttpServer } = await import("../observability/http-server.js");
        const server = await startHttpServer(this.options.http, this.metrics, () => this.isReady);
        this.http = { server, url: httpAddress(server) };
      }
    } catch (e) {
      await this.abortStart(transport);
      throw e;
    }
    this.state = "running";
    if (this.sources.length === 0) {
      // Not an error: handlers may come later, from app.subscribe.
      this.logger.warn(
        "this app has no handlers: no controllers were given. Pass classes with @Subscribe() methods (or an @AuthCallout() class) " +
          "as NatsApp.create({ controllers: [...] }), or add handlers with app.subscribe(subject, options, fn). An app that only publishes can ignore this.",
      );
    }
    this.logger.info(
      { handlers: this.handlers.map((h) => ({ handler: h.name, subject: h.subject, queue: h.queue })) },
      "natsflow app started",
    );
    if (cluster.isWorker) this.warnFanOut();
  }

  /**
   * Workers of one app (`natsflow run --workers N`, pm2's cluster mode) each hold a subscription:
   * a handler without a queue group runs once per worker for each message. Said at start, by name.
   */
  private warnFanOut(): void {
    const fanOut = this.sources.filter((s) => s.binding.fanOut).map((s) => ({ handler: s.binding.info.name, subject: s.binding.info.subject }));
    if (fanOut.length === 0) return;
    this.logger.warn(
      { handlers: fanOut },
      `running as a cluster worker, but ${fanOut.map((h) => h.handler).join(", ")} ${fanOut.length === 1 ? "has" : "have"} no queue group: every worker runs each message ` +
        "(and publishes what it returns) once. Give each a queue (@Subscribe(subject, { queue }), or a router's queue), unless every worker must see every message.",
    );
  }

  /** Undoes a start that failed once connected: nothing is left subscribed or open; the error is the caller's. */
  private async abortStart(transport: Transport): Promise<void> {
    this.discovery?.stop();
    // Closed first: a drain would wait on a round trip that a close never answers.
    await transport.close();
    await Promise.allSettled(this.sources.map((s) => s.stop()));
    this.resources.stop();
    this.state = "stopped";
  }

  /** Opens the handler's source (listed first, so a failed start still stops it) and starts it. */
  private async open(binding: HandlerBinding, transport: Transport): Promise<Source> {
    const source = binding.source.open(binding, { transport, container: binding.container, metrics: this.metrics, discovery: this.options.service !== undefined });
    this.sources.push(source);
    await source.start();
    return source;
  }

  /**
   * Handles `subject` with `fn` from now on (or from `start`, when called before it), through the
   * same chain as a `@Subscribe` handler: decoding and validation, the app middleware, the reply,
   * errors answered, limits, metrics, and the drain at `stop`. Resolves once the subscription is live
   * at the server. Throws `SetupError` for options that cannot work.
   */
  async subscribe<T = unknown>(subject: string, options: AppSubscribeOptions, fn: (payload: T, ctx: MessageContext) => unknown): Promise<AppSubscription> {
    if (this.state === "stopping" || this.state === "stopped") throw new NatsflowError(`cannot subscribe on an app that is ${this.state}`);
    // Its own subscription: filtered, it routes as a group of one (what it declines is unmatched).
    const [binding] = openSources(this.explore, [bindFunction(this.explore, subject, options, fn as SubscribeFunction)]) as [HandlerBinding];
    const handle = (unsubscribe: () => Promise<void>): AppSubscription => ({ name: binding.info.name, subject: binding.info.subject, unsubscribe });
    if (!this.subscribed) {
      this.deferred.push(binding);
      // Before start: unsubscribing only takes it off the list; once started, it is a live one.
      return handle(async () => {
        const at = this.deferred.indexOf(binding);
        if (at >= 0) this.deferred.splice(at, 1);
        else await this.unsubscribe(this.sources.find((s) => s.binding === binding));
      });
    }
    const transport = this.connected();
    const source = await this.open(binding, transport);
    await transport.flush();
    return handle(() => this.unsubscribe(source));
  }

  private async unsubscribe(source: Source | undefined): Promise<void> {
    if (!source || !this.sources.includes(source)) return;
    await source.stop();
    await source.settled();
    this.sources.splice(this.sources.indexOf(source), 1);
  }

  /**
   * Runs a hook on every instance that has it, in order. A start hook's failure fails the start; a
   * stop hook's is logged. With `until` (a stop's deadline, epoch ms), a hook still running then is
   * logged by name and left behind; the hooks after it are still called, each given what is left.
   */
  private async runHooks(hook: LifespanHook, instances: readonly object[], until?: number): Promise<void> {
    const starting = hook === "onStartup" || hook === "onReady";
    for (const instance of instances) {
      if (!hasHook(instance, hook)) continue;
      const ran = (async () => {
        try {
          await instance[hook]();
        } catch (e) {
          if (starting) throw e;
          this.logger.error({ err: e, hook }, `${hook} failed`);
        }
      })();
      if (until === undefined) await ran;
      else if (!(await settlesBy(until, ran))) {
        const name = `${instance.constructor.name}.${hook}`;
        this.late(`${name} did not finish; stopping anyway`, { hook: name });
      }
    }
  }

  /**
   * Idempotent. Runs `beforeShutdown`, drains the subscriptions, waits for in-flight messages,
   * drains the connection and closes, runs `onShutdown` and disposes the providers, all within
   * `shutdownTimeoutMs`: whatever still runs at the deadline is logged and left behind.
   */
  stop(): Promise<void> {
    this.requestStop();
    // A stop during start-up (a signal, say) waits for the start to settle, then undoes it.
    this.stopping ??= (this.starting ?? Promise.resolve()).catch(() => undefined).then(() => this.shutdown());
    return this.stopping;
  }

  /**
   * Starts, stops on SIGINT/SIGTERM, and resolves once stopped. Rejects when the connection is
   * lost for good, so a supervisor can restart the process. A signal's stop that ran out of
   * `shutdownTimeoutMs` with work left behind (a handler still running, a hook) also ends the
   * process, right after the code awaiting `listen()` has run up to its next wait: what was left
   * behind would otherwise keep it alive past the budget.
   */
  async listen(): Promise<void> {
    let signalled = false;
    const onSignal = (signal: NodeJS.Signals) => {
      signalled = true;
      this.logger.info({ signal }, "shutting down");
      void this.stop();
    };
    // Before start: a signal that arrives while connecting is a graceful stop too, never a kill.
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
    try {
      if (this.state === "created") await this.start();
      // Stopped while connecting: there is nothing to watch.
      if (!this.transport) return await this.stop();
      const transport = this.connected();
      const lost = transport.closed().then((err) => {
        if (this.state !== "stopping" && this.state !== "stopped") {
          throw new ConnectionError(`NATS connection closed${err ? `: ${err.message}` : ""}`, { cause: err });
        }
      });
      await Promise.race([lost, this.stopRequested]);
      await this.stop();
      if (signalled && this.overran) {
        this.logger.warn("shutdown timeout: exiting; what was left behind would keep the process alive");
        // Unref'd: it fires only if something still holds the process open.
        setTimeout(() => process.exit(), 0).unref();
      }
    } finally {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    }
  }

  private connected(): Transport {
    if (!this.transport || this.transport.isClosed) {
      throw new ConnectionError("not connected: call app.start() first");
    }
    return this.transport;
  }

  private watchConnection(transport: Transport): void {
    transport.onStatus((s) => {
      if (s.type === "error") this.logger.error({ err: s.error }, "NATS connection error");
      else if (s.type === "disconnect") {
        this.setConnected(false);
        this.logger.warn({ server: s.server }, "NATS disconnected");
      } else if (s.type === "reconnect") {
        this.setConnected(true);
        this.logger.info({ server: s.server }, "NATS reconnected");
      }
    });
    void transport.closed().then(() => this.setConnected(false));
  }

  private late(what: string, fields: Record<string, unknown> = {}): void {
    this.overran = true;
    this.logger.warn(fields, `shutdown timeout: ${what}`);
  }

  /**
   * The deadline came with handlers still running: the messages they hold go back to the server now
   * (a consumer naks them) instead of waiting out its ack wait, flushed before the connection closes.
   */
  private async giveBack(transport: Transport | undefined): Promise<void> {
    const left = this.sources.reduce((n, s) => n + s.pending, 0);
    const given = this.sources.reduce((n, s) => n + (s.abandon?.() ?? 0), 0);
    this.late(`closing with ${left} message(s) still in flight; giving back ${given} unfinished message(s) for redelivery`, { left, givenBack: given });
    if (given > 0 && transport && !transport.isClosed) {
      await settlesBy(Date.now() + GIVE_BACK_FLUSH_MS, transport.flush().catch(() => undefined));
    }
  }

  private async shutdown(): Promise<void> {
    const wasRunning = this.state === "running";
    this.state = "stopping";
    // One budget for the whole stop: whatever the server does meanwhile, the connection is closed by then.
    const until = Date.now() + this.options.shutdownTimeoutMs;
    const http = this.http?.server;
    this.http = undefined;
    if (http) {
      const closed = new Promise<void>((resolve) => http.close(() => resolve()));
      // Keep-alive scrapers would otherwise hold the close open.
      http.closeAllConnections();
      await closed;
    }
    this.discovery?.stop();
    if (wasRunning) await this.runHooks("beforeShutdown", [...this.instances].reverse(), until);
    // All at once: every subscription's drain costs the same one round trip.
    const drained = await settlesBy(until, Promise.allSettled(this.sources.map((s) => s.stop())));
    if (!drained) this.late("subscriptions did not drain; closing");
    let settled = !this.sources.some((s) => s.pending > 0);
    if (drained && !settled) settled = await settlesBy(until, Promise.all(this.sources.map((s) => s.settled())));
    const transport = this.transport;
    if (!settled) await this.giveBack(transport);
    if (transport) {
      const closed = await settlesBy(
        until,
        transport.drain().catch((e: unknown) => this.logger.warn({ err: e }, "drain failed; closing")),
      );
      if (!closed) this.late("drain did not finish; closing");
      if (!transport.isClosed) await transport.close();
    }
    this.resources.stop();
    // Inside the budget too: a hook or a disposal that hangs must not keep a stopping process alive.
    if (wasRunning) await this.runHooks("onShutdown", [...this.instances].reverse(), until);
    const disposeAll = async () => {
      // Innermost first: a router's providers may use its parent's.
      for (const c of [...this.routerContainers].reverse()) await c.dispose();
      await this.container.dispose();
    };
    const disposed = disposeAll().catch((e: unknown) => this.logger.error({ err: e }, "disposing the app's providers failed"));
    if (!(await settlesBy(until, disposed))) this.late("disposing the app's providers did not finish; stopping anyway");
    this.state = "stopped";
    if (wasRunning) this.logger.info("natsflow app stopped");
  }
}

/** How long past a stop's deadline the naks of `giveBack` may take to reach the server. */
const GIVE_BACK_FLUSH_MS = 500;

/** Whether `work` settles before the epoch-ms `until`; the timer never outlives the answer. */
async function settlesBy(until: number, work: Promise<unknown>): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work.then(() => true),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), Math.max(0, until - Date.now())))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
