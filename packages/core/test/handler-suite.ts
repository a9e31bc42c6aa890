/**
 * One suite of handler behaviours, run against the in-memory TestBroker and against a real
 * nats-server (handlers.memory.test.ts, handlers.server.test.ts), so the two cannot drift.
 */
import "reflect-metadata";

import {
  Broker,
  Controller,
  Ctx,
  HandlerError,
  Headers,
  InvalidHeaderError,
  InvalidSubjectError,
  inject,
  injectable,
  MESSAGE,
  Msg,
  NatsApp,
  Param,
  Payload,
  Publish,
  reply,
  RequestTimeoutError,
  ServiceError,
  Subject,
  Subscribe,
  Use,
  type InboundMessage,
  type MessageContext,
  type MessageHeaders,
  type Middleware,
  type NatsAppOptions,
  type NatsMiddleware,
  type Next,
  type Transport,
} from "@natsflow/core";
import { captureLogs } from "@natsflow/testing";
import * as v from "valibot";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";

export interface SuiteEnvironment {
  /** Connection settings for an app under test (servers, or an in-memory transport). */
  appOptions(): Partial<NatsAppOptions>;
  /** A plain client connection. */
  client(): Promise<Transport>;
  stop(): Promise<void>;
}

export interface HandlerSuiteEnvironment extends SuiteEnvironment {
  /** A request sent without natsflow's checks, as by a client in another language: any subject gets through. */
  rawRequest(subject: string, data: Uint8Array): Promise<{ data: Uint8Array; code: string | undefined }>;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

class OrderRepository {
  private readonly orders = new Map([["42", { id: "42", item: "tea", qty: 2 }]]);
  find(id: string) {
    return this.orders.get(id);
  }
  save(order: { id: string; item: string; qty: number }) {
    this.orders.set(order.id, order);
    return order;
  }
}

const OrderSchema = z.object({ id: z.string(), item: z.string().min(1), qty: z.number().int().positive() });
type Order = z.infer<typeof OrderSchema>;

const trail: string[] = [];
const appMiddleware: Middleware = async (_ctx, next) => {
  trail.push("app");
  await next();
};

@injectable()
class Stamp implements NatsMiddleware {
  constructor(private readonly repo: OrderRepository) {}
  async use(ctx: MessageContext, next: Next) {
    trail.push(`class-middleware:${this.repo.find("42")?.item}`);
    await next();
    if (typeof ctx.result === "object" && ctx.result) ctx.result = { ...ctx.result, stamped: true };
  }
}

/** One per message: records which message it was made for. */
@injectable()
class RequestInfo {
  constructor(@inject(MESSAGE) readonly message: InboundMessage) {}
}

@Controller("suite.orders")
@Use(async (_ctx, next) => {
  trail.push("controller");
  await next();
})
class OrdersController {
  constructor(
    private readonly repo: OrderRepository,
    private readonly broker: Broker,
  ) {}

  @Subscribe("{id}.get", { queue: "orders" })
  @Use(Stamp)
  get(@Param("id") id: string) {
    trail.push("handler");
    const order = this.repo.find(id);
    if (!order) throw new HandlerError(`order ${id} not found`, 404);
    return order;
  }

  @Subscribe("create", { schema: OrderSchema, concurrency: 4 })
  @Publish("suite.audit.order")
  create(@Payload() order: Order, @Headers() headers: MessageHeaders | undefined) {
    return { ...this.repo.save(order), by: headers?.get("X-User") ?? "anonymous" };
  }

  @Subscribe("count", { schema: v.object({ n: v.number() }) })
  count(@Payload() body: { n: number }) {
    return { next: body.n + 1 };
  }

  @Subscribe("limited", { maxPayloadBytes: 64 })
  limited() {
    return "ok";
  }

  @Subscribe("boom")
  boom(): never {
    throw new Error("db password=hunter2 leaked in a message");
  }

  @Subscribe("bigint")
  bigint() {
    return { n: 1n };
  }

  @Subscribe("fire")
  fire(): void {
    trail.push("fired");
  }

  @Subscribe("chain.{id}")
  async chain(@Param("id") id: string) {
    const order = await this.broker.request<Order>(`suite.orders.${id}.get`, null);
    return { viaBroker: order.item };
  }
}

@Controller("suite.text")
class TextController {
  @Subscribe("upper", { codec: "string" })
  upper(@Payload() text: string) {
    return text.toUpperCase();
  }

  @Subscribe("bytes", { codec: "bytes" })
  bytes(@Payload() data: Uint8Array) {
    return Uint8Array.from(data).reverse();
  }

  @Subscribe("any.>", { codec: "string" })
  any(@Subject() subject: string, @Msg() msg: InboundMessage, @Ctx() ctx: MessageContext) {
    return `${subject}|${msg.reply ? "reply" : "none"}|${ctx.handler.name}`;
  }
}

@Controller("suite.scoped", { scope: "message" })
class ScopedController {
  constructor(private readonly info: RequestInfo) {}

  @Subscribe("who", { codec: "string" })
  who() {
    return `${this.info.message.subject}:${dec.decode(this.info.message.data)}`;
  }
}

/** Sets a reply header on the way in, and one on the way out over what the handler returned. */
const headerMiddleware: Middleware = async (ctx, next) => {
  ctx.setReplyHeader("X-Middleware", "before");
  await next();
  ctx.setReplyHeader("X-Served-By", ctx.handler.name);
};

@Controller("suite.meta")
@Use(headerMiddleware)
class MetaController {
  constructor(private readonly broker: Broker) {}

  @Subscribe("order")
  @Publish("suite.meta.placed", { headers: (order: { id: string }) => ({ "X-Order": order.id, "X-Fixed": ["a", "b"] }) })
  order(@Payload() body: { id: string }) {
    return reply({ id: body.id }, { headers: { "Cache-Control": "no-store" } });
  }

  @Subscribe("fanout")
  async fanout(@Ctx() ctx: MessageContext) {
    ctx.logger.info("fanning out");
    // A nested request and a publish: both carry this message's correlation id, with no code for it here.
    const order = await this.broker.request<{ id: string }>("suite.meta.order", { id: "nested" });
    this.broker.publish("suite.meta.side", { from: order.id });
    return { nested: order.id, correlationId: ctx.correlationId };
  }

  @Subscribe("missing")
  missing(): never {
    throw new HandlerError("nothing here", 404);
  }
}

/** Subjects, reply headers and {param} values made from what callers send. */
@Controller("suite.edge")
class EdgeController {
  constructor(private readonly broker: Broker) {}

  @Subscribe("{id}.get")
  get(@Param("id") id: string) {
    trail.push(`edge:${id}`);
    return { id };
  }

  @Subscribe("audit")
  audit(@Payload() p: { tenant: string }) {
    this.broker.publish(`suite.audit.${p.tenant}`, { audited: p.tenant });
    return { logged: true };
  }

  @Subscribe("echo-header")
  echoHeader(@Payload() p: { value: string }) {
    return reply({ ok: true }, { headers: { "X-Echo": p.value } });
  }
}

export function handlerSuite(name: string, makeEnvironment: () => Promise<HandlerSuiteEnvironment>): void {
  describe(`handlers on ${name}`, () => {
    let env: HandlerSuiteEnvironment;
    let app: NatsApp;
    let client: Transport;
    const logs = captureLogs();

    const request = async (subject: string, body: unknown, headers?: Record<string, string>) => {
      const data = body instanceof Uint8Array ? body : enc.encode(typeof body === "string" ? body : JSON.stringify(body));
      return client.request(subject, data, { timeoutMs: 2000, ...(headers ? { headers } : {}) });
    };
    const json = (m: InboundMessage) => JSON.parse(dec.decode(m.data)) as Record<string, unknown>;

    beforeAll(async () => {
      env = await makeEnvironment();
      app = await NatsApp.create({
        ...env.appOptions(),
        controllers: [OrdersController, TextController, ScopedController, MetaController, EdgeController],
        providers: [OrderRepository, { provide: RequestInfo, useClass: RequestInfo, scope: "message" }],
        middleware: [appMiddleware],
        logger: logs.logger,
      });
      await app.start();
      client = await env.client();
    });

    afterAll(async () => {
      await client?.close();
      await app?.stop();
      await env?.stop();
    });

    it("replies with the return value, reading {id} from the subject", async () => {
      trail.length = 0;
      const reply = await request("suite.orders.42.get", "");
      expect(json(reply)).toEqual({ id: "42", item: "tea", qty: 2, stamped: true });
      expect(trail).toEqual(["app", "controller", "class-middleware:tea", "handler"]);
    });

    it("answers a HandlerError with its code in the micro headers", async () => {
      const reply = await request("suite.orders.7.get", "");
      expect(reply.headers?.get("Nats-Service-Error-Code")).toBe("404");
      expect(reply.headers?.get("Nats-Service-Error")).toBe("order 7 not found");
      expect(json(reply)).toEqual({ code: 404, description: "order 7 not found" });
    });

    it("validates with a zod schema, publishes the result, and reads headers", async () => {
      const audit: InboundMessage[] = [];
      const watcher = await env.client();
      watcher.subscribe("suite.audit.>", {}, (m) => audit.push(m));
      await watcher.flush();
      const reply = await request("suite.orders.create", { id: "7", item: "cake", qty: 1 }, { "X-User": "ann" });
      expect(json(reply)).toEqual({ id: "7", item: "cake", qty: 1, by: "ann" });
      await expect.poll(() => audit.length).toBe(1);
      expect(JSON.parse(dec.decode(audit[0]!.data))).toEqual({ id: "7", item: "cake", qty: 1, by: "ann" });
      await watcher.close();
    });

    it("answers schema violations with 400 and the issues, then keeps serving", async () => {
      const bad = await request("suite.orders.create", { id: "8", item: "", qty: -1 });
      expect(bad.headers?.get("Nats-Service-Error-Code")).toBe("400");
      const body = json(bad) as { issues: Array<{ path: string }> };
      expect(body.issues.map((i) => i.path).sort()).toEqual(["item", "qty"]);
      const valibotBad = await request("suite.orders.count", { n: "one" });
      expect(valibotBad.headers?.get("Nats-Service-Error-Code")).toBe("400");
      expect(json(await request("suite.orders.count", { n: 1 }))).toEqual({ next: 2 });
    });

    it("answers malformed JSON, oversized payloads and failures to encode, and keeps serving", async () => {
      const malformed = await request("suite.orders.create", "{not json");
      expect(malformed.headers?.get("Nats-Service-Error-Code")).toBe("400");
      expect(malformed.headers?.get("Nats-Service-Error")).toBe("malformed payload: not valid json");
      const big = await request("suite.orders.limited", "x".repeat(65));
      expect(big.headers?.get("Nats-Service-Error-Code")).toBe("413");
      const unencodable = await request("suite.orders.bigint", "");
      expect(unencodable.headers?.get("Nats-Service-Error-Code")).toBe("500");
      expect(json(await request("suite.orders.42.get", ""))).toMatchObject({ id: "42" });
    });

    it("answers an unexpected exception with a bare 500 and logs the stack", async () => {
      const reply = await request("suite.orders.boom", "");
      expect(reply.headers?.get("Nats-Service-Error-Code")).toBe("500");
      expect(dec.decode(reply.data)).not.toContain("hunter2");
      expect(reply.headers?.get("Nats-Service-Error")).toBe("internal error");
      const entry = logs.find(/handler failed/).find((e) => e.handler === "OrdersController.boom") as { err?: { stack?: string } };
      expect(entry.err?.stack).toContain("hunter2 leaked");
    });

    it("sends nothing for a void handler", async () => {
      trail.length = 0;
      await expect(client.request("suite.orders.fire", enc.encode(""), { timeoutMs: 300 })).rejects.toBeInstanceOf(RequestTimeoutError);
      expect(trail).toContain("fired");
    });

    it("never answers a message without a reply subject", async () => {
      trail.length = 0;
      client.publish("suite.orders.fire", enc.encode(""));
      client.publish("suite.orders.boom", enc.encode(""));
      await expect.poll(() => trail.filter((t) => t === "fired").length).toBe(1);
    });

    it("uses the injected Broker to call another handler", async () => {
      expect(json(await request("suite.orders.chain.42", ""))).toEqual({ viaBroker: "tea" });
      const broker = app.container.resolve(Broker);
      await expect(broker.request("suite.orders.9.get", null)).rejects.toMatchObject({ code: 404, description: "order 9 not found" });
      await expect(broker.request("suite.orders.9.get", null)).rejects.toBeInstanceOf(ServiceError);
    });

    it("supports string and bytes codecs and > wildcards with @Subject, @Msg and @Ctx", async () => {
      expect(dec.decode((await request("suite.text.upper", "shout")).data)).toBe("SHOUT");
      expect([...(await request("suite.text.bytes", Uint8Array.of(1, 2, 3))).data]).toEqual([3, 2, 1]);
      expect(dec.decode((await request("suite.text.any.deep.path", "")).data)).toBe("suite.text.any.deep.path|reply|TextController.any");
    });

    it("gives message-scoped controllers and providers a fresh instance per message", async () => {
      const [a, b] = await Promise.all([request("suite.scoped.who", "first"), request("suite.scoped.who", "second")]);
      expect(dec.decode(a.data)).toBe("suite.scoped.who:first");
      expect(dec.decode(b.data)).toBe("suite.scoped.who:second");
    });

    it("shares a queue group between app instances: each message is handled once", async () => {
      const other = await NatsApp.create({
        ...env.appOptions(),
        controllers: [OrdersController],
        providers: [OrderRepository],
        logger: captureLogs().logger,
      });
      await other.start();
      try {
        trail.length = 0;
        for (let i = 0; i < 20; i++) await request("suite.orders.42.get", "");
        expect(trail.filter((t) => t === "handler")).toHaveLength(20);
      } finally {
        await other.stop();
      }
    });

    /** Every message a plain subscriber sees on `subject`, once the subscription is live. */
    const collect = async (subject: string) => {
      const got: InboundMessage[] = [];
      client.subscribe(subject, {}, (m) => got.push(m));
      await client.flush();
      return got;
    };

    it("puts the handler's reply() headers and middleware headers on the reply; @Publish headers from the result", async () => {
      const placed = await collect("suite.meta.placed");
      const answer = await request("suite.meta.order", { id: "o-1" });
      expect(json(answer)).toEqual({ id: "o-1" });
      expect(answer.headers?.get("Cache-Control")).toBe("no-store");
      expect(answer.headers?.get("X-Middleware")).toBe("before");
      expect(answer.headers?.get("X-Served-By")).toBe("MetaController.order");
      await expect.poll(() => placed.length).toBe(1);
      // The published event is the bare value, with its own headers, not the reply's.
      expect(json(placed[0]!)).toEqual({ id: "o-1" });
      expect(placed[0]!.headers?.get("X-Order")).toBe("o-1");
      expect(placed[0]!.headers?.values("X-Fixed")).toEqual(["a", "b"]);
      expect(placed[0]!.headers?.get("Cache-Control")).toBeUndefined();
    });

    it("copies Correlation-Id to the reply, @Publish, nested Broker calls, error replies and log lines", async () => {
      const placed = await collect("suite.meta.placed");
      const side = await collect("suite.meta.side");
      const answer = await request("suite.meta.fanout", {}, { "Correlation-Id": "corr-123" });
      expect(json(answer)).toEqual({ nested: "nested", correlationId: "corr-123" });
      expect(answer.headers?.get("Correlation-Id")).toBe("corr-123");
      await expect.poll(() => placed.length + side.length).toBe(2);
      // The nested request ran in the order handler: its @Publish carries the id too.
      expect(placed[0]!.headers?.get("Correlation-Id")).toBe("corr-123");
      expect(side[0]!.headers?.get("Correlation-Id")).toBe("corr-123");
      const failed = await request("suite.meta.missing", {}, { "Correlation-Id": "corr-404" });
      expect(failed.headers?.get("Nats-Service-Error-Code")).toBe("404");
      expect(failed.headers?.get("Correlation-Id")).toBe("corr-404");
      expect(logs.find(/fanning out/).at(-1)).toMatchObject({ correlationId: "corr-123", handler: "MetaController.fanout" });
      expect(logs.find(/handler failed/).at(-1)).toMatchObject({ correlationId: "corr-404" });
    });

    it("makes a correlation id when a request has none, and each request gets its own", async () => {
      const [a, b] = await Promise.all([request("suite.meta.fanout", {}), request("suite.meta.fanout", {})]);
      const ids = [a, b].map((m) => m.headers?.get("Correlation-Id"));
      expect(ids[0]).toMatch(/^[0-9a-f-]{36}$/);
      expect(ids[1]).toMatch(/^[0-9a-f-]{36}$/);
      expect(ids[0]).not.toBe(ids[1]);
      expect([json(a).correlationId, json(b).correlationId]).toEqual(ids);
    });

    it("answers a {param} that arrived as * or > with 400, before the handler runs", async () => {
      trail.length = 0;
      for (const subject of ["suite.edge.*.get", "suite.edge.>.get"]) {
        const answer = await env.rawRequest(subject, enc.encode(""));
        expect(answer.code, subject).toBe("400");
        expect(JSON.parse(dec.decode(answer.data))).toEqual({
          code: 400,
          description: "subject parameter {id} must be a value, not empty, * or >",
          issues: [{ path: "{id}", message: "must be a value, not empty, * or >" }],
        });
      }
      expect(trail).toEqual([]);
      expect(json(await request("suite.edge.7.get", ""))).toEqual({ id: "7" });
      expect(trail).toEqual(["app", "edge:7"]);
    });

    it("answers a subject built from the payload that is not one with a 500 and an escaped error log; nothing is sent", async () => {
      const audited = await collect("suite.audit.>");
      const tenant = "x\r\nPUB suite.audit.evil 2\r\nhi";
      const answer = await request("suite.edge.audit", { tenant });
      expect(answer.headers?.get("Nats-Service-Error-Code")).toBe("500");
      expect(answer.headers?.get("Nats-Service-Error")).toBe("internal error");
      const failed = logs.find(/handler failed/).at(-1) as { handler: string; err: { type: string; message: string } };
      expect(failed).toMatchObject({ handler: "EdgeController.audit", err: { type: "InvalidSubjectError" } });
      expect(failed.err.message).toBe(`invalid subject ${JSON.stringify(`suite.audit.${tenant}`)}: a control character`);
      for (const bad of ["a b", "a.*", "", "x".repeat(2000)]) expect((await request("suite.edge.audit", { tenant: bad })).headers?.get("Nats-Service-Error-Code")).toBe("500");
      expect(json(await request("suite.edge.audit", { tenant: "acme" }))).toEqual({ logged: true });
      await expect.poll(() => audited.length).toBe(1);
      expect(audited[0]?.subject).toBe("suite.audit.acme");
    });

    it("answers reply headers that cannot be sent with a 500 instead of leaving the caller to time out", async () => {
      const bad = await request("suite.edge.echo-header", { value: "a\r\nX-Injected: yes" }, { "Correlation-Id": "corr-echo" });
      expect(bad.headers?.get("Nats-Service-Error-Code")).toBe("500");
      expect(bad.headers?.get("X-Injected")).toBeUndefined();
      expect(bad.headers?.get("Correlation-Id")).toBe("corr-echo");
      expect(logs.find(/handler failed/).at(-1)).toMatchObject({ handler: "EdgeController.echoHeader", err: { type: "InvalidHeaderError" } });
      const good = await request("suite.edge.echo-header", { value: "fine" });
      expect(good.headers?.get("X-Echo")).toBe("fine");
    });

    it("refuses bad subjects, reply subjects, queue groups, KV keys and headers from the Broker and the transport: nothing is sent", async () => {
      const broker = app.container.resolve(Broker);
      expect(() => broker.publish("suite.a b", 1)).toThrow(InvalidSubjectError);
      expect(() => broker.publish("suite.ok", 1, { headers: { "X-Id": "1\r\n2" } })).toThrow(InvalidHeaderError);
      expect(() => broker.publish("suite.ok", 1, { headers: { "X Id": "1" } })).toThrow(InvalidHeaderError);
      await expect(broker.request("suite.>", 1)).rejects.toBeInstanceOf(InvalidSubjectError);
      await expect(broker.request("suite.ok", 1, { headers: { "X-Id": "\u0000" } })).rejects.toBeInstanceOf(InvalidHeaderError);
      await expect(broker.jetstream.publish("suite..js", 1)).rejects.toBeInstanceOf(InvalidSubjectError);
      await expect(broker.jetstream.publish("suite.js", 1, { msgId: "a\nb" })).rejects.toBeInstanceOf(InvalidHeaderError);
      await expect(broker.kv("a.b")).rejects.toBeInstanceOf(InvalidSubjectError);
      expect(() => client.publish("suite.ok", enc.encode(""), { reply: "suite.>" })).toThrow(InvalidSubjectError);
      expect(() => client.subscribe("suite.>.x", {}, () => undefined)).toThrow(InvalidSubjectError);
      expect(() => client.subscribe("suite.x", { queue: "q 1" }, () => undefined)).toThrow(/^invalid queue group "q 1": a space$/);
      // The connection is still good.
      expect(json(await request("suite.orders.42.get", ""))).toMatchObject({ id: "42" });
    });

    it("replaces a correlation id that is too long or holds spaces with a fresh one, everywhere it goes", async () => {
      const placed = await collect("suite.meta.placed");
      const side = await collect("suite.meta.side");
      for (const inbound of ["x".repeat(129), "has a space", "é-non-ascii"]) {
        placed.length = 0;
        side.length = 0;
        const before = logs.lines.length;
        const answer = await request("suite.meta.fanout", {}, { "Correlation-Id": inbound });
        const id = answer.headers?.get("Correlation-Id");
        expect(id).toMatch(/^[0-9a-f-]{36}$/);
        expect(json(answer)).toEqual({ nested: "nested", correlationId: id });
        await expect.poll(() => placed.length + side.length).toBe(2);
        expect([placed[0]?.headers?.get("Correlation-Id"), side[0]?.headers?.get("Correlation-Id")]).toEqual([id, id]);
        expect(logs.find(/fanning out/).at(-1)).toMatchObject({ correlationId: id });
        expect(logs.lines.slice(before).join("")).not.toContain(JSON.stringify(inbound).slice(1, -1));
      }
      const kept = await request("suite.meta.fanout", {}, { "Correlation-Id": "x".repeat(128) });
      expect(kept.headers?.get("Correlation-Id")).toBe("x".repeat(128));
    });
  });
}
