// Spies on an app's handlers and sends, through its public hooks (app and outgoing middleware):
// the same assertions on the in-memory TestBroker and on a real nats-server.
import "reflect-metadata";

import { AssertionError } from "node:assert";

import {
  Broker,
  connectNats,
  Controller,
  definePublisher,
  injectable,
  InjectPublisher,
  NatsApp,
  Payload,
  Publish,
  Publisher,
  Subscribe,
  type NatsAppOptions,
  type OutgoingMiddleware,
  type Transport,
} from "@natsflow/core";
import { captureLogs, createSpy, startNatsServer, TestBroker, type NatsServer } from "@natsflow/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";

const enc = new TextEncoder();
const NewOrder = z.object({ id: z.string(), qty: z.number().int().positive() });
type NewOrder = z.infer<typeof NewOrder>;
const ORDER_PLACED = definePublisher<NewOrder>("spy.orders.placed", { schema: NewOrder });

@injectable()
@Controller("spy.orders")
class OrdersController {
  constructor(
    @InjectPublisher(ORDER_PLACED) private readonly placed: Publisher<NewOrder>,
    private readonly broker: Broker,
  ) {}

  @Subscribe("create", { schema: NewOrder })
  @Publish("spy.orders.created")
  async create(@Payload() order: NewOrder) {
    await this.placed.publish(order);
    await this.broker.publish("spy.audit.create", { id: order.id });
    return { ...order, status: "created" };
  }

  @Subscribe("fail")
  fail() {
    throw new Error("boom");
  }
}

let server: NatsServer;
beforeAll(async () => {
  server = await startNatsServer();
});
afterAll(() => server?.stop());

const environments: [string, () => Promise<{ options: Partial<NatsAppOptions>; client: () => Promise<Transport> }>][] = [
  ["the in-memory TestBroker", async () => {
    const broker = new TestBroker();
    return { options: { transport: broker.transport }, client: async () => broker.connect() };
  }],
  ["a real nats-server", async () => ({ options: { servers: server.url }, client: () => connectNats({ servers: server.url }) })],
];

describe.each(environments)("spies on %s", (_name, setup) => {
  let app: NatsApp;
  let client: Transport;
  const spy = createSpy();
  const traced: OutgoingMiddleware = async (m, next) => {
    m.headers["X-Trace"] = "t1";
    await next();
  };

  beforeAll(async () => {
    const env = await setup();
    client = await env.client();
    app = await NatsApp.create(spy.wrap({ ...env.options, controllers: [OrdersController], outgoingMiddleware: [traced], logger: captureLogs().logger }));
    await app.start();
  });
  afterAll(async () => {
    await app?.stop();
    await client?.close();
  });

  it("records what a handler received and returned, and what it sent through a publisher, @Publish and the Broker", async () => {
    const create = spy.handler("OrdersController.create");
    const placed = spy.publisher(ORDER_PLACED);
    const created = spy.sent("spy.orders.created");
    const audit = spy.sent("spy.audit.>");
    const first = { id: "1", qty: 2 };
    await client.request("spy.orders.create", enc.encode(JSON.stringify(first)), { timeoutMs: 2000, headers: { "X-Tenant": "acme" } });

    const call = await create.called(1);
    expect(call.payload).toEqual(first);
    expect(call.subject).toBe("spy.orders.create");
    expect(call.headers?.get("X-Tenant")).toBe("acme");
    expect(call.result).toEqual({ ...first, status: "created" });
    create.assertCalledOnceWith(first, { headers: { "X-Tenant": "acme" } });
    expect(() => create.assertCalledOnceWith({ id: "1", qty: 3 })).toThrow(AssertionError);

    placed.assertCalledOnceWith(first);
    expect(placed.lastCall?.headers["X-Trace"]).toBe("t1");
    created.assertCalledOnceWith({ ...first, status: "created" }, { headers: { "X-Trace": "t1" } });
    expect(created.lastCall?.sender).toBe("OrdersController.create @Publish");
    audit.assertCalledOnceWith({ id: "1" });
    expect(audit.lastCall?.subject).toBe("spy.audit.create");
  });

  it("waits for the n-th call, and says how many there were when it does not come", async () => {
    const create = spy.handler("OrdersController.create");
    const before = create.callCount;
    const third = create.called(before + 2);
    void client.request("spy.orders.create", enc.encode(JSON.stringify({ id: "2", qty: 1 })), { timeoutMs: 2000 });
    void client.request("spy.orders.create", enc.encode(JSON.stringify({ id: "3", qty: 1 })), { timeoutMs: 2000 });
    const call = await third;
    expect(create.callCount).toBe(before + 2);
    expect(call).toBe(create.calls[before + 1]);
    create.assertCalledWith({ id: "2", qty: 1 });
    await expect(create.called(before + 5, { timeoutMs: 100 })).rejects.toThrow(/called 3 time\(s\), not 6/);
  });

  it("records a handler's error, and a message refused by validation never reaches it", async () => {
    const fail = spy.handler("OrdersController.fail");
    const reply = await client.request("spy.orders.fail", enc.encode("{}"), { timeoutMs: 2000 });
    expect(reply.headers?.get("Nats-Service-Error-Code")).toBe("500");
    expect(((await fail.called()).error as Error).message).toBe("boom");
    const create = spy.handler("OrdersController.create");
    const count = create.callCount;
    const bad = await client.request("spy.orders.create", enc.encode(JSON.stringify({ id: "x", qty: -1 })), { timeoutMs: 2000 });
    expect(bad.headers?.get("Nats-Service-Error-Code")).toBe("400");
    expect(create.callCount).toBe(count);
    spy.handler("OrdersController.nothing").assertNotCalled();
  });

  it("records Broker requests and sends made outside handlers", async () => {
    const outside = spy.sent("spy.orders.create");
    await app.broker.request("spy.orders.create", { id: "9", qty: 9 });
    outside.assertCalledOnceWith({ id: "9", qty: 9 });
    expect(outside.lastCall?.operation).toBe("request");
    expect(outside.lastCall?.sender).toBe("broker");
  });
});
