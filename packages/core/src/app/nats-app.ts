import "reflect-metadata";
import type { Server } from "node:http";
import { container as rootContainer, Lifecycle, type DependencyContainer, type InjectionToken } from "tsyringe";

import { Broker } from "../broker/broker.js";
import { registerProviders } from "../di/providers.js";
import { hasOnShutdown, hasOnStartup } from "./lifespan.js";
import { BUCKETS, LOGGER } from "../di/tokens.js";
import { Subscriber } from "../dispatch/subscriber.js";
import { ConnectionError, NatsflowError } from "../errors.js";
import { JetStreamConsumer } from "../jetstream/consumer.js";
import { BucketRegistry } from "../jetstream/buckets.js";
import { kvSource } from "../jetstream/kv-watch.js";
import { objectSource } from "../jetstream/object-watch.js";
import { Watcher } from "../jetstream/watcher.js";
import { distinctByName, ensureStream, type ResolvedStream } from "../jetstream/stream.js";
import { createLogger, type Logger } from "../logging/logger.js";
import { exploreControllers, resolveOrExplain, type HandlerBinding } from "../metadata/explorer.js";
import { getControllerMetadata } from "../metadata/handler-metadata.js";
import { Metrics } from "../observability/metrics.js";
import { httpAddress, startHttpServer } from "../observability/http-server.js";
import { connectNats } from "../transport/nats-transport.js";
import type { Transport } from "../transport/transport.js";
import { resolveAppOptions, type NatsAppOptions, type ResolvedAppOptions } from "./options.js";

type State = "created" | "starting" | "running" | "stopping" | "stopped";

/**
 * A NATS service: a DI container of its own, the handlers its controllers define, and one connection.
 * `create` builds everything that can fail without a server; `start` connects and subscribes;
 * `stop` stops taking messages, lets in-flight ones finish, drains and closes.
 */
export class NatsApp {
  readonly container: DependencyContainer;
  readonly logger: Logger;
  readonly broker: Broker;
  /** Prometheus metrics of this app; served on `/metrics` when the `http` option is set. */
  readonly metrics: Metrics;
  private http: Server | undefined;
  private connectedNow = false;
  private readonly bindings: HandlerBinding[];
  /** Providers and controllers with one instance per app, in creation order: lifespan hooks run on them. */
  private readonly instances: object[];
  /** Streams the `@Consume` handlers read, made or verified at start. */
  private readonly streams: ResolvedStream[];
  /** KV buckets and object stores its handles and watchers use, made or verified at start. */
  private readonly buckets = new BucketRegistry();
  /** Whatever takes messages in: subscribers, consumers, watchers. */
  private readonly subscribers: Array<{ stop(): void | Promise<void>; readonly pending: number; settled(): Promise<void> }> = [];
  private transport: Transport | undefined;
  private state: State = "created";
  private starting: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  private readonly stopRequested: Promise<void>;
  private requestStop!: () => void;

  private constructor(private readonly options: ResolvedAppOptions) {
    this.stopRequested = new Promise((resolve) => (this.requestStop = resolve));
    this.metrics = new Metrics({ processMetrics: options.http?.processMetrics === true });
    this.logger = options.logger ?? createLogger();
    this.container = rootContainer.createChildContainer();
    this.broker = new Broker(() => this.connected());
    this.container.register(LOGGER, { useValue: this.logger });
    this.container.register(Broker, { useValue: this.broker });
    this.container.register(Metrics, { useValue: this.metrics });
    this.container.register(BUCKETS, { useValue: this.buckets });
    // The constructor is private (use `create`), so the class is a token only by cast.
    this.container.register(NatsApp as unknown as InjectionToken<NatsApp>, { useValue: this });
    const providers = registerProviders(this.container, options.providers);
    for (const c of options.controllers) {
      if (typeof c === "function" && getControllerMetadata(c)?.scope !== "message") {
        this.container.register(c, { useClass: c }, { lifecycle: Lifecycle.Singleton });
      }
    }
    // Every app-scoped provider is created now: a broken one fails here, not on the first message.
    const provided = providers.app.map((token, i) => resolveOrExplain(this.container, token, `providers[${i}]`));
    const explored = exploreControllers(this.container, options.controllers, options.middleware, this.logger, providers.message);
    this.bindings = explored.bindings;
    this.streams = distinctByName(
      "stream",
      this.bindings.flatMap((b) => b.streams.map((stream) => ({ user: b.info.name, name: stream.config.name, resolved: stream }))),
    );
    for (const { watch, info } of this.bindings) {
      if (watch?.kind === "kv") this.buckets.addKv(watch.kv, info.name);
      else if (watch) this.buckets.addStore(watch.store, info.name);
    }
    this.instances = [...new Set([...provided, ...explored.instances])].filter((x): x is object => typeof x === "object" && x !== null);
  }

  /** Validates the options and creates the controllers; throws `SetupError` on bad configuration. */
  static async create(options: NatsAppOptions): Promise<NatsApp> {
    return new NatsApp(resolveAppOptions(options));
  }

  /** The handlers this app serves, as `{ name, subject, queue }`. */
  get handlers(): ReadonlyArray<HandlerBinding["info"]> {
    return this.bindings.map((b) => b.info);
  }

  get isRunning(): boolean {
    return this.state === "running";
  }

  /** Running, connected and subscribed: what `/readyz` reports. */
  get isReady(): boolean {
    return this.state === "running" && this.connectedNow;
  }

  /** Where `/healthz`, `/readyz` and `/metrics` are served, when the `http` option is set. */
  get httpUrl(): string | undefined {
    return this.http ? httpAddress(this.http) : undefined;
  }

  private setConnected(up: boolean): void {
    this.connectedNow = up;
    this.metrics.connected.set(up ? 1 : 0);
  }

  start(): Promise<void> {
    if (this.state !== "created") return Promise.reject(new NatsflowError(`cannot start an app that is ${this.state}`));
    this.state = "starting";
    this.starting = this.startUp();
    return this.starting;
  }

  private async startUp(): Promise<void> {
    for (const instance of this.instances) if (hasOnStartup(instance)) await instance.onStartup();
    const factory = this.options.transport ?? connectNats;
    try {
      this.transport = await factory(this.options.connection);
    } catch (e) {
      this.state = "stopped";
      throw e;
    }
    this.watchConnection(this.transport);
    this.setConnected(true);
    try {
      await this.startConsumers(this.transport);
      await this.startWatchers(this.transport);
    } catch (e) {
      // A stream or consumer that cannot be set up fails start like a connection that cannot be made.
      // Closed first: a drain would wait on a round trip that a close never answers.
      await this.transport.close();
      await Promise.allSettled(this.subscribers.map((s) => s.stop()));
      this.buckets.stop();
      this.state = "stopped";
      throw e;
    }
    for (const binding of this.bindings) {
      if (binding.consume || binding.watch) continue;
      const sub = new Subscriber(binding, this.transport, this.container, this.metrics);
      sub.start();
      this.subscribers.push(sub);
    }
    // Subscriptions are live at the server once the round trip returns.
    await this.transport.flush();
    this.state = "running";
    if (this.options.http) this.http = await startHttpServer(this.options.http, this.metrics, () => this.isReady);
    this.logger.info(
      { handlers: this.bindings.map((b) => ({ handler: b.info.name, subject: b.info.subject, queue: b.info.queue })) },
      "natsflow app started",
    );
  }

  private async startConsumers(transport: Transport): Promise<void> {
    if (this.streams.length === 0) return;
    const js = transport.jetstream();
    for (const stream of this.streams) await ensureStream(js, stream, this.logger);
    for (const binding of this.bindings) {
      if (!binding.consume) continue;
      const consumer = new JetStreamConsumer({ ...binding, consume: binding.consume }, transport, this.container, this.metrics);
      this.subscribers.push(consumer);
      await consumer.start(js);
    }
  }

  private async startWatchers(transport: Transport): Promise<void> {
    if (this.buckets.isEmpty) return;
    await this.buckets.start(transport, this.logger);
    for (const binding of this.bindings) {
      const { watch } = binding;
      if (!watch) continue;
      const watcher =
        watch.kind === "kv"
          ? new Watcher(binding, kvSource(watch, await this.buckets.kvBucket(watch.kv.bucket)), this.container, this.metrics)
          : new Watcher(binding, objectSource(watch, await this.buckets.storeBucket(watch.store.bucket)), this.container, this.metrics);
      this.subscribers.push(watcher);
      await watcher.start();
    }
  }

  /** Idempotent. Waits up to `shutdownTimeoutMs` for in-flight messages, then drains and closes. */
  stop(): Promise<void> {
    this.requestStop();
    // A stop during start-up (a signal, say) waits for the start to settle, then undoes it.
    this.stopping ??= (this.starting ?? Promise.resolve()).catch(() => undefined).then(() => this.shutdown());
    return this.stopping;
  }

  /**
   * Starts, stops on SIGINT/SIGTERM, and resolves once stopped. Rejects when the connection is
   * lost for good, so a supervisor can restart the process.
   */
  async listen(): Promise<void> {
    const onSignal = (signal: NodeJS.Signals) => {
      this.logger.info({ signal }, "shutting down");
      void this.stop();
    };
    // Before start: a signal that arrives while connecting is a graceful stop too, never a kill.
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
    try {
      if (this.state === "created") await this.start();
      const transport = this.connected();
      const lost = transport.closed().then((err) => {
        if (this.state !== "stopping" && this.state !== "stopped") {
          throw new ConnectionError(`NATS connection closed${err ? `: ${err.message}` : ""}`, { cause: err });
        }
      });
      await Promise.race([lost, this.stopRequested]);
      await this.stop();
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

  private async shutdown(): Promise<void> {
    const wasRunning = this.state === "running" || this.state === "starting";
    this.state = "stopping";
    // One budget for the whole stop: whatever the server does meanwhile, the connection is closed by then.
    const until = Date.now() + this.options.shutdownTimeoutMs;
    const http = this.http;
    this.http = undefined;
    if (http) {
      const closed = new Promise<void>((resolve) => http.close(() => resolve()));
      // Keep-alive scrapers would otherwise hold the close open.
      http.closeAllConnections();
      await closed;
    }
    // All at once: every subscription's drain costs the same one round trip.
    const drained = await settlesBy(until, Promise.allSettled(this.subscribers.map((s) => s.stop())));
    if (!drained) this.logger.warn("shutdown timeout: subscriptions did not drain; closing");
    if (drained && this.subscribers.some((s) => s.pending > 0)) {
      const settled = await settlesBy(until, Promise.all(this.subscribers.map((s) => s.settled())));
      if (!settled) {
        const left = this.subscribers.reduce((n, s) => n + s.pending, 0);
        this.logger.warn({ left }, "shutdown timeout: closing with messages still in flight");
      }
    }
    const transport = this.transport;
    if (transport) {
      const drained = await settlesBy(
        until,
        transport.drain().catch((e: unknown) => this.logger.warn({ err: e }, "drain failed; closing")),
      );
      if (!drained) this.logger.warn("shutdown timeout: drain did not finish; closing");
      if (!transport.isClosed) await transport.close();
    }
    this.buckets.stop();
    for (const instance of wasRunning ? [...this.instances].reverse() : []) {
      if (!hasOnShutdown(instance)) continue;
      try {
        await instance.onShutdown();
      } catch (e) {
        this.logger.error({ err: e }, "onShutdown failed");
      }
    }
    await this.container.dispose();
    this.state = "stopped";
    if (wasRunning) this.logger.info("natsflow app stopped");
  }
}

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
