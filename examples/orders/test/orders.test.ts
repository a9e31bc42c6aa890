// The orders example in this process against a real nats-server, called by a plain `nats` client: no
// envelope, plain JSON; a spy records what its handlers got and what it published. In memory, with
// the repository overridden by a fake. The built example as a process: process.test.ts.
import "reflect-metadata";

import { NatsApp } from "@natsflow/core";
import { captureLogs, createSpy, startNatsServer, TestBroker, type AppSpy, type NatsServer } from "@natsflow/testing";
import { connect, headers as natsHeaders, type NatsConnection } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { createOrdersOptions } from "../src/app.js";
import { ORDER_CREATED, OrderNotFoundError, OrderRepository, type NewOrder, type Order } from "../src/orders.js";

const enc = new TextEncoder();
const dec = new TextDecoder();
const service = { name: "orders", version: "0.0.0-test" };

describe("orders example on nats-server", () => {
  let server: NatsServer;
  let app: NatsApp;
  let spy: AppSpy;
  let nc: NatsConnection;

  const call = async (subject: string, body?: unknown, hdrs?: Record<string, string>) => {
    const h = natsHeaders();
    for (const [k, v] of Object.entries(hdrs ?? {})) h.set(k, v);
    const reply = await nc.request(subject, body === undefined ? new Uint8Array() : enc.encode(JSON.stringify(body)), { timeout: 2000, headers: h });
    return { code: reply.headers?.get("Nats-Service-Error-Code") || undefined, body: JSON.parse(dec.decode(reply.data)) as Record<string, unknown> };
  };

  beforeAll(async () => {
    server = await startNatsServer();
    spy = createSpy();
    app = await NatsApp.create(spy.wrap(createOrdersOptions({ servers: server.url, service, logger: captureLogs().logger })));
    await app.start();
    nc = await connect({ servers: server.url });
  });

  afterAll(async () => {
    await nc?.close();
    await app?.stop();
    await server?.stop();
  });

  it("creates an order, publishes the event, and serves it back", async () => {
    const events: unknown[] = [];
    const sub = nc.subscribe("orders.events.>", { callback: (_e, m) => events.push(JSON.parse(dec.decode(m.data))) });
    await nc.flush();
    const created = await call("orders.create", { item: "tea", qty: 2, customer: "ann" }, { "Request-Id": "r-1" });
    expect(created.code).toBeUndefined();
    expect(created.body).toMatchObject({ item: "tea", qty: 2, customer: "ann", status: "open", requestId: "r-1" });
    const id = created.body.id as string;
    // What the handler got (decoded and validated), and what the declared publisher sent.
    spy.handler("OrdersController.create").assertCalledOnceWith({ item: "tea", qty: 2, customer: "ann" }, { headers: { "Request-Id": "r-1" } });
    spy.publisher(ORDER_CREATED).assertCalledOnceWith({ id, item: "tea", qty: 2, customer: "ann", status: "open" });
    expect((await call(`orders.${id}.get`)).body).toMatchObject({ id, item: "tea" });
    expect((await call(`orders.${id}.cancel`)).body).toMatchObject({ id, status: "cancelled" });
    await expect.poll(() => events.length).toBe(2);
    expect((await call("orders.stats")).body).toEqual({ created: 1, cancelled: 1 });
    sub.unsubscribe();
  });

  it("answers invalid input with 400 and the issues, unknown orders with 404, and keeps serving", async () => {
    const invalid = await call("orders.create", { item: "", qty: 0 });
    expect(invalid.code).toBe("400");
    expect((invalid.body.issues as Array<{ path: string }>).map((i) => i.path).sort()).toEqual(["customer", "item", "qty"]);
    const malformed = await nc.request("orders.create", enc.encode("{oops"), { timeout: 2000 });
    expect(malformed.headers?.get("Nats-Service-Error-Code")).toBe("400");
    const unknown = await call("orders.999.get");
    expect(unknown).toEqual({ code: "404", body: { code: 404, description: "order 999 not found" } });
    expect(spy.handler("OrdersController.get").lastCall?.error).toBeInstanceOf(OrderNotFoundError);
    expect((await call("orders.999.cancel")).code).toBe("404");
    expect(Array.isArray((await call("orders.list")).body)).toBe(true);
  });
});

describe("orders example in memory, its repository overridden", () => {
  /** Hands out fixed ids and knows one order only; the real repository is never made. */
  class FakeOrderRepository extends OrderRepository {
    readonly created: NewOrder[] = [];
    override create(input: NewOrder): Order {
      this.created.push(input);
      return { ...input, id: `fake-${this.created.length}`, status: "open" };
    }
    override get(id: string): Order {
      if (id !== "fake-1") throw new OrderNotFoundError(id);
      return { ...this.created[0]!, id, status: "open" };
    }
  }

  it("runs the same controllers on the TestBroker, with the fake from the override", async () => {
    const broker = new TestBroker();
    const fake = new FakeOrderRepository();
    const spy = createSpy();
    const app = await NatsApp.create(spy.wrap(createOrdersOptions({ transport: broker.transport, service, logger: captureLogs().logger })), {
      overrides: [{ provide: OrderRepository, useValue: fake }],
    });
    await app.start();
    const client = broker.connect();
    const request = async (subject: string, body?: unknown) => {
      const reply = await client.request(subject, body === undefined ? new Uint8Array() : enc.encode(JSON.stringify(body)), { timeoutMs: 1000 });
      return { code: reply.headers?.get("Nats-Service-Error-Code") || undefined, body: JSON.parse(dec.decode(reply.data)) as unknown };
    };
    try {
      expect((await request("orders.create", { item: "cake", qty: 1, customer: "bo" })).body).toEqual({ id: "fake-1", item: "cake", qty: 1, customer: "bo", status: "open" });
      expect(fake.created).toEqual([{ item: "cake", qty: 1, customer: "bo" }]);
      const created = await spy.publisher(ORDER_CREATED).called();
      expect(created.subject).toBe("orders.events.created");
      spy.publisher(ORDER_CREATED).assertCalledOnceWith({ id: "fake-1", item: "cake", qty: 1, customer: "bo", status: "open" });
      // The event reaches the stats handler, in the same app.
      await spy.handler("StatsController.record").called();
      expect((await request("orders.stats")).body).toEqual({ created: 1 });

      expect((await request("orders.fake-1.get")).body).toMatchObject({ id: "fake-1", item: "cake" });
      expect(await request("orders.2.get")).toEqual({ code: "404", body: { code: 404, description: "order 2 not found" } });
      expect(spy.handler("OrdersController.get").lastCall?.error).toBeInstanceOf(OrderNotFoundError);
    } finally {
      await client.close();
      await app.stop();
    }
  });
});
