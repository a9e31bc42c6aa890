import { randomUUID } from "node:crypto";

import { Broker, ConnectionError, inject, injectable, LOGGER, NatsApp, NoRespondersError, RequestTimeoutError, ServiceError, type BeforeShutdown, type Logger, type OnReady, type PublishPayload } from "@natsflow/core";
import Fastify, { type FastifyRequest } from "fastify";

/** Where the HTTP server listens, and how long a route waits for a NATS reply. */
export interface GatewayOptions {
  port: number;
  host: string;
  upstreamTimeoutMs: number;
}

/** The DI token of the gateway's options (a value provider). */
export const GATEWAY_OPTIONS = Symbol("GatewayOptions");

/** A caller's `Correlation-Id` taken as is; anything else is replaced by a new one. */
const CORRELATION_ID = /^[\w.-]{1,128}$/;

/** An order id as it may appear in a subject token: never `.`, `*`, `>` or empty, which would address another subject. */
const ORDER_ID = "^[A-Za-z0-9_-]{1,64}$";

/**
 * An error of a route as an HTTP status and JSON body. A NATS micro error reply keeps its 4xx code
 * (and a 400's `issues`); a 503 stays a 503, any other 5xx of the service is the gateway's 502. No
 * responders (the service is not running) is 503, a timeout 504, no NATS connection 503. Anything
 * else is `undefined`: Fastify's own answer (its 4xx for a bad request, else a bare 500).
 */
export function httpError(err: unknown): { status: number; body: Record<string, unknown> } | undefined {
  if (err instanceof ServiceError) {
    const issues = (err.body as { issues?: unknown } | undefined)?.issues;
    if (err.code >= 400 && err.code < 500) return { status: err.code, body: { error: err.description, ...(issues ? { issues } : {}) } };
    return err.code === 503 ? { status: 503, body: { error: "service busy, try again" } } : { status: 502, body: { error: "upstream service failed" } };
  }
  if (err instanceof NoRespondersError) return { status: 503, body: { error: "service unavailable" } };
  if (err instanceof RequestTimeoutError) return { status: 504, body: { error: "service did not answer in time" } };
  if (err instanceof ConnectionError) return { status: 503, body: { error: "not connected to NATS" } };
  return undefined;
}

/** The Fastify server and its routes: orders through the app's `Broker`, health from the app's state. */
export function buildHttpServer(broker: Broker, app: NatsApp, logger: Logger, timeoutMs: number) {
  const server = Fastify({
    loggerInstance: logger.child({ component: "http" }),
    // The request id is the correlation id natsflow reads (docs/tracing.md): one id in the HTTP and the NATS log lines.
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers["correlation-id"];
      return typeof given === "string" && CORRELATION_ID.test(given) ? given : randomUUID();
    },
  });
  const call = (subject: string, payload: PublishPayload, request: FastifyRequest) => broker.request(subject, payload, { timeoutMs, headers: { "Correlation-Id": request.id } });
  // Once closing, a response in flight ends its keep-alive connection: close() closes only the
  // connections idle when it is called, and would otherwise wait for this one until the client leaves.
  let closing = false;
  server.addHook("preClose", async () => {
    closing = true;
  });
  server.addHook("onSend", async (request, reply) => {
    reply.header("correlation-id", request.id);
    if (closing) reply.header("connection", "close");
  });

  server.setErrorHandler((err, _request, reply) => {
    const mapped = httpError(err);
    if (mapped) return reply.status(mapped.status).send(mapped.body);
    const status = (err as { statusCode?: number }).statusCode;
    if (status !== undefined && status >= 400 && status < 500) return reply.status(status).send({ error: (err as Error).message });
    reply.log.error({ err }, "route failed");
    return reply.status(500).send({ error: "internal error" });
  });

  server.post("/orders", async (request, reply) => {
    // As JSON text whatever JSON value it is: a bare string would otherwise be sent as raw UTF-8.
    const order = await call("orders.create", JSON.stringify(request.body), request);
    return reply.status(201).send(order);
  });
  server.get<{ Params: { id: string } }>("/orders/:id", { schema: { params: { type: "object", properties: { id: { type: "string", pattern: ORDER_ID } } } } }, (request) =>
    call(`orders.${request.params.id}.get`, new Uint8Array(0), request),
  );

  // natsflow's own `http` option would serve these on a second port; here they share Fastify's.
  server.get("/healthz", () => "ok\n");
  server.get("/readyz", (_request, reply) => (app.isReady ? reply.send("ready\n") : reply.status(503).send("not ready\n")));
  server.get("/metrics", async (_request, reply) => reply.type(app.metrics.registry.contentType).send(await app.metrics.registry.metrics()));
  return server;
}

/**
 * Fastify inside the natsflow app, as a provider: its routes call NATS through the app's `Broker`,
 * `/readyz` is the app's readiness. It listens in `onReady` (connected, every handler subscribed) and
 * closes in `beforeShutdown` — while the app is still connected and its handlers still answer — so
 * requests in flight finish, NATS calls included, before the subscriptions drain. `app.listen()`
 * owns the one lifecycle and the one SIGTERM handler.
 */
@injectable()
export class HttpGateway implements OnReady, BeforeShutdown {
  readonly server: ReturnType<typeof buildHttpServer>;

  constructor(
    broker: Broker,
    app: NatsApp,
    @inject(LOGGER) logger: Logger,
    @inject(GATEWAY_OPTIONS) private readonly options: GatewayOptions,
  ) {
    this.server = buildHttpServer(broker, app, logger, options.upstreamTimeoutMs);
  }

  /** `http://host:port` once listening. */
  get url(): string | undefined {
    const address = this.server.server.address();
    return address && typeof address === "object" ? `http://${address.family === "IPv6" ? `[${address.address}]` : address.address}:${address.port}` : undefined;
  }

  async onReady(): Promise<void> {
    await this.server.listen({ port: this.options.port, host: this.options.host });
    this.server.log.info({ url: this.url }, "http gateway listening");
  }

  // Stops accepting connections, answers 503 on kept-alive ones, and resolves once every request in flight is answered.
  async beforeShutdown(): Promise<void> {
    await this.server.close();
    this.server.log.info("http gateway closed");
  }
}
