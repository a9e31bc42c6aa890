import type { Constructor, Provider } from "../di/providers.js";
import { SetupError } from "../errors.js";
import type { OutgoingMiddlewareSpec } from "../broker/outgoing.js";
import type { AnyPublisherDeclaration } from "../broker/publisher.js";
import { checkExceptionHandlers, type ExceptionHandler } from "../dispatch/exceptions.js";
import type { Logger } from "../logging/logger.js";
import type { MiddlewareSpec } from "../middleware/middleware.js";
import type { HttpOptions } from "../observability/http-server.js";
import { checkProviderList, list, outgoingSpecs, type Router } from "./router.js";
import { checkMetadata, MICRO_NAME, SEMVER, type ResolvedService, type ServiceOptions } from "../service/micro.js";
import { isValidHeaderName } from "../subjects.js";
import type { ConnectionOptions, TransportFactory } from "../transport/transport.js";
import { resolveConnection, type Environment } from "./connection-options.js";

export interface NatsAppOptions extends Partial<Omit<ConnectionOptions, "from">> {
  /**
   * Where the connection settings the options leave out are read from: `NATS_URL`, `NATS_CREDS`,
   * `NATS_USER`/`NATS_PASSWORD`, … (docs/configuration.md). Default `process.env`; `false` reads none.
   */
  env?: Environment | false;
  /** Classes whose decorators define handlers (`@AuthCallout()`, …); created through the container. */
  controllers?: Constructor[];
  /** Groups of controllers under a subject prefix, with their own middleware, providers and defaults: see `defineRouter`. */
  routers?: Router[];
  /** Services the controllers depend on; see `Provider`. */
  providers?: Provider[];
  /** Middleware around every handler, outermost first. */
  middleware?: MiddlewareSpec[];
  /**
   * Middleware around every send — `Broker` publish, request and JetStream publish, `@Publish`,
   * declared publishers — outermost first, outside a publisher's own. It may change the subject,
   * payload or headers, or throw to refuse the send. A class with `use(message, next)` is created
   * once through the container.
   */
  outgoingMiddleware?: OutgoingMiddlewareSpec[];
  /**
   * Publishers (`definePublisher`) this app sends with: checked at create and listed in its AsyncAPI
   * document. One injected with `@InjectPublisher` is listed without being named here.
   */
  publishers?: AnyPublisherDeclaration[];
  /** Exception handlers (`catchErrors(…)`) of every handler: tried after `@Catch` and the routers'. */
  exceptionHandlers?: ExceptionHandler[];
  /** Default: a pino logger to standard output named after `name` (else "natsflow"), at `LOG_LEVEL` (default info). */
  logger?: Logger;
  /** Replaces the `nats` client, e.g. with the in-memory broker of `@natsflow/testing`. */
  transport?: TransportFactory;
  /** How long `stop()` gives `beforeShutdown`, the drains and in-flight messages before closing anyway. Default 10 s. */
  shutdownTimeoutMs?: number;
  /** Serve `/healthz`, `/readyz` and `/metrics` (Prometheus) over HTTP on this port. Off by default. */
  http?: HttpOptions;
  /**
   * Correlation ids: read from this header of each inbound message (generated when absent) and put
   * on its reply, error replies, `@Publish`es and every `Broker` call made while handling it, and on
   * its log lines. Default `{ header: "Correlation-Id" }`; `false` turns it off.
   */
  correlation?: { header?: string } | false;
  /**
   * OpenTelemetry spans and W3C trace context (`traceparent`) on everything received and sent. By
   * default on when an SDK is registered by `start()` (after `onStartup`), else off at no cost;
   * `true`/`false` force it.
   */
  tracing?: boolean;
  /** Answer NATS micro discovery (`nats micro ls/info/stats`) as this service; each handler is an endpoint. Off by default. */
  service?: ServiceOptions;
}

export interface ResolvedAppOptions {
  connection: ConnectionOptions;
  controllers: Constructor[];
  routers: Router[];
  providers: Provider[];
  middleware: MiddlewareSpec[];
  outgoingMiddleware: OutgoingMiddlewareSpec[];
  publishers: AnyPublisherDeclaration[];
  exceptionHandlers: readonly ExceptionHandler[];
  logger: Logger | undefined;
  transport: TransportFactory | undefined;
  shutdownTimeoutMs: number;
  http: HttpOptions | undefined;
  service: ResolvedService | undefined;
  /** The correlation header, or undefined when correlation is off. */
  correlationHeader: string | undefined;
  tracing: boolean | undefined;
}


function resolveCorrelation(correlation: NatsAppOptions["correlation"]): string | undefined {
  if (correlation === false) return undefined;
  if (correlation !== undefined && (correlation === null || typeof correlation !== "object")) {
    throw new SetupError("correlation", "must be { header?: string } or false.");
  }
  const header = correlation?.header ?? "Correlation-Id";
  if (!isValidHeaderName(header)) {
    throw new SetupError("correlation.header", `must be a header name (letters, digits, "-"), got ${JSON.stringify(header)}.`, 'e.g. "Correlation-Id" or "X-Request-Id".');
  }
  return header;
}

function resolveTracing(tracing: unknown): boolean | undefined {
  if (tracing !== undefined && typeof tracing !== "boolean") {
    throw new SetupError("tracing", "must be true or false, or left out to follow whether an OpenTelemetry SDK is registered.");
  }
  return tracing;
}

function resolveService(service: ServiceOptions): ResolvedService {
  if (service === null || typeof service !== "object") throw new SetupError("service", "must be an object like { name, version }.");
  const { name, version, description = "" } = service;
  if (typeof name !== "string" || !MICRO_NAME.test(name)) {
    throw new SetupError("service.name", `must be letters, digits, "-" and "_" only, got ${JSON.stringify(name)}.`, 'e.g. "orders" or "orders-api".');
  }
  if (typeof version !== "string" || !SEMVER.test(version)) {
    throw new SetupError("service.version", `must be a semantic version, got ${JSON.stringify(version)}.`, 'e.g. "1.0.0" or "2.1.0-beta.1".');
  }
  if (typeof description !== "string") throw new SetupError("service.description", "must be a string when given.");
  return Object.freeze({ name, version, description, metadata: checkMetadata("service.metadata", service.metadata) });
}

/** Every app option is checked here, once, before anything connects. */
export function resolveAppOptions(options: NatsAppOptions): ResolvedAppOptions {
  if (options === null || typeof options !== "object") {
    throw new SetupError("NatsApp.create options", "must be an object.");
  }
  if (options.env !== undefined && options.env !== false && (options.env === null || typeof options.env !== "object")) {
    throw new SetupError("env", "must be a record of variables (like process.env), or false to read none.");
  }
  const connection = resolveConnection(options, options.env === false ? {} : (options.env ?? process.env));
  const shutdownTimeoutMs = options.shutdownTimeoutMs ?? 10_000;
  if (!Number.isFinite(shutdownTimeoutMs) || shutdownTimeoutMs < 0) {
    throw new SetupError("shutdownTimeoutMs", "must be a number of milliseconds ≥ 0.");
  }
  if (options.transport !== undefined && typeof options.transport !== "function") {
    throw new SetupError("transport", "must be a function that returns a connected transport.");
  }
  if (options.http !== undefined) {
    const port = options.http?.port;
    if (typeof port !== "number" || !Number.isInteger(port) || port < 0 || port > 65535) {
      throw new SetupError("http.port", `must be a port number (0 picks a free one), got ${String(port)}.`);
    }
  }
  const controllers = list("controllers", options.controllers);
  const providers = list("providers", options.providers);
  checkProviderList("", providers, controllers);
  return {
    connection,
    controllers,
    routers: list("routers", options.routers),
    providers,
    middleware: list("middleware", options.middleware),
    outgoingMiddleware: outgoingSpecs("outgoingMiddleware", options.outgoingMiddleware),
    publishers: list("publishers", options.publishers),
    exceptionHandlers: checkExceptionHandlers("exceptionHandlers", options.exceptionHandlers),
    logger: options.logger,
    transport: options.transport,
    http: options.http,
    service: options.service === undefined ? undefined : resolveService(options.service),
    correlationHeader: resolveCorrelation(options.correlation),
    tracing: resolveTracing(options.tracing),
    shutdownTimeoutMs,
  };
}
