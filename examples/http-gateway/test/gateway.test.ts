// The gateway in this process, over real HTTP (node's fetch) against a real nats-server: the routes
// and how NATS error replies, missing services and timeouts become HTTP statuses; /readyz following
// the NATS connection; and stop(): HTTP closes first, a request in flight still gets its NATS answer.
import "reflect-metadata";

import { NatsApp, type CreateOptions } from "@natsflow/core";
import { captureLogs, startNatsServer, type CapturedLogs, type NatsServer } from "@natsflow/testing";
import { connect, headers as natsHeaders, type Msg, type NatsConnection } from "nats";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";

import { createGatewayOptions } from "../src/app.js";
import { HttpGateway } from "../src/gateway.js";
import { OrderRepository, type NewOrder, type Order } from "../src/orders.js";
import { refused } from "./refused.js";

const enc = new TextEncoder();

describe("http gateway in one process with a natsflow app", () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let app: NatsApp | undefined;
  let url: string;
  let logs: CapturedLogs;

  const start = async (serveOrders: boolean, create: CreateOptions = {}) => {
    const options = {
      servers: server.url,
      env: false as const,
      logger: (logs = captureLogs()).logger,
      reconnectTimeWaitMs: 100,
      maxReconnectAttempts: -1,
      http: { port: 0, host: "127.0.0.1", upstreamTimeoutMs: 500 },
      serveOrders,
    };
    app = await NatsApp.create(createGatewayOptions(options), create);
    await app.start();
    url = app.container.resolve(HttpGateway).url as string;
  };

  const send = async (method: string, path: string, body?: unknown, contentType = "application/json") => {
    const res = await fetch(`${url}${path}`, {
      method,
      ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body), headers: { "content-type": contentType } }),
    });
    const text = await res.text();
    return { status: res.status, body: res.headers.get("content-type")?.includes("json") ? (JSON.parse(text) as Record<string, unknown>) : text };
  };

  beforeAll(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url, reconnectTimeWait: 100, maxReconnectAttempts: -1 });
  });
  afterEach(async () => {
    await app?.stop();
    app = undefined;
  });
  afterAll(async () => {
    await nc?.close();
    await server?.stop();
  });

  it("POST /orders creates through orders.create, GET /orders/:id reads through orders.{id}.get", async () => {
    await start(true);
    const created = await send("POST", "/orders", { item: "tea", qty: 2 });
    expect(created).toEqual({ status: 201, body: { id: "1", item: "tea", qty: 2 } });
    expect(await send("GET", "/orders/1")).toEqual({ status: 200, body: { id: "1", item: "tea", qty: 2 } });
  });

  it("one correlation id in the HTTP and NATS log lines: the caller's Correlation-Id, else a new one", async () => {
    await start(true);
    const given = await fetch(`${url}/orders/1`, { headers: { "correlation-id": "trace-42" } });
    expect(given.headers.get("correlation-id")).toBe("trace-42");
    const made = (await fetch(`${url}/orders/1`)).headers.get("correlation-id") as string;
    expect(made).toMatch(/^[0-9a-f-]{36}$/);
    // A value that is no plain id is not carried into NATS headers.
    expect((await fetch(`${url}/orders/1`, { headers: { "correlation-id": "a b" } })).headers.get("correlation-id")).not.toBe("a b");
    for (const id of ["trace-42", made]) {
      expect(logs.entries().filter((e) => e.reqId === id).map((e) => e.msg)).toEqual(["incoming request", "request completed"]);
      expect(logs.entries().filter((e) => e.correlationId === id && e.handler === "OrdersController.get" && e.msg === "handled")).toHaveLength(1);
    }
  });

  it("maps the service's 404 and 400 (with its issues); refuses a bad body or id before NATS", async () => {
    await start(true);
    expect(await send("GET", "/orders/999")).toEqual({ status: 404, body: { error: "order 999 not found" } });
    const invalid = await send("POST", "/orders", { item: "", qty: 0 });
    expect(invalid.status).toBe(400);
    expect(invalid.body).toMatchObject({ error: expect.stringMatching(/invalid payload/), issues: expect.arrayContaining([expect.objectContaining({ path: "item" }), expect.objectContaining({ path: "qty" })]) });
    // Fastify's own 400/415: nothing is sent to NATS.
    expect((await send("POST", "/orders", "{not json")).status).toBe(400);
    // Any JSON value reaches the service as JSON, and its schema answers.
    expect(await send("POST", "/orders", '"tea"')).toMatchObject({ status: 400, body: { issues: [expect.objectContaining({ path: "" })] } });
    expect((await send("POST", "/orders", "item=tea", "application/x-www-form-urlencoded")).status).toBe(415);
    // An id that would address another subject (orders.*.get, orders.a.b.get) never becomes one.
    for (const id of ["*", "a.b", "%3E"]) expect((await send("GET", `/orders/${id}`)).status).toBe(400);
  });

  it("no orders service: 503; a service that does not answer in time: 504; its 503 stays 503, another 5xx is 502", async () => {
    await start(false);
    expect(await send("POST", "/orders", { item: "tea", qty: 1 })).toEqual({ status: 503, body: { error: "service unavailable" } });

    const silent = nc.subscribe("orders.create");
    await nc.flush();
    expect(await send("POST", "/orders", { item: "tea", qty: 1 })).toEqual({ status: 504, body: { error: "service did not answer in time" } });
    silent.unsubscribe();

    const failing = nc.subscribe("orders.*.get", {
      callback: (_e, m: Msg) => {
        const code = m.subject.split(".")[1] as string;
        const h = natsHeaders();
        h.set("Nats-Service-Error-Code", code);
        h.set("Nats-Service-Error", "internal detail");
        m.respond(enc.encode(JSON.stringify({ code: Number(code), description: "internal detail" })), { headers: h });
      },
    });
    await nc.flush();
    expect(await send("GET", "/orders/503")).toEqual({ status: 503, body: { error: "service busy, try again" } });
    // The service's own description of a failure stays inside.
    expect(await send("GET", "/orders/500")).toEqual({ status: 502, body: { error: "upstream service failed" } });
    failing.unsubscribe();
  });

  it("stop(): new connections are refused at once, a request in flight still gets its NATS answer, then NATS drains", async () => {
    let enter!: () => void;
    let release!: () => void;
    const entered = new Promise<void>((r) => (enter = r));
    const released = new Promise<void>((r) => (release = r));
    class HeldRepository extends OrderRepository {
      override async create(input: NewOrder): Promise<Order> {
        enter();
        await released;
        return super.create(input);
      }
    }
    await start(true, { overrides: [{ provide: OrderRepository, useValue: new HeldRepository() }] });
    const inFlight = send("POST", "/orders", { item: "slow tea", qty: 1 });
    await entered;
    const stopping = app!.stop();
    await expect.poll(() => refused(url)).toBe(true);
    expect(app!.isReady).toBe(false);
    release();
    expect(await inFlight).toEqual({ status: 201, body: { id: "1", item: "slow tea", qty: 1 } });
    await stopping;
    expect(app!.isRunning).toBe(false);
    // Within its budget: the kept-alive connection of that request did not hold the close open.
    expect(logs.find(/shutdown timeout/)).toEqual([]);
    expect(logs.find(/http gateway closed|natsflow app stopped/).map((e) => e.msg)).toEqual(["http gateway closed", "natsflow app stopped"]);
  });

  // Last: it stops the nats-server.
  it("/readyz follows the NATS connection (503 while it is down, 200 once reconnected); /healthz stays 200", async () => {
    await start(true);
    expect(await send("GET", "/readyz")).toEqual({ status: 200, body: "ready\n" });
    expect((await send("GET", "/metrics")).body).toMatch(/natsflow_/);
    await server.halt();
    await expect.poll(async () => (await send("GET", "/readyz")).status).toBe(503);
    expect(await send("GET", "/healthz")).toEqual({ status: 200, body: "ok\n" });
    await server.resume();
    await expect.poll(async () => (await send("GET", "/readyz")).status, { timeout: 10_000 }).toBe(200);
    expect((await send("POST", "/orders", { item: "tea", qty: 1 })).status).toBe(201);
  });
});
