/**
 * Declared publishers and the outgoing chain, run against the in-memory TestBroker and a real
 * nats-server (publishers.memory.test.ts, publishers.server.test.ts).
 */
import "reflect-metadata";

import { Parser } from "@asyncapi/parser";
import {
  Broker,
  ConnectionError,
  Controller,
  defineRouter,
  defineStream,
  definePublisher,
  Headers,
  injectable,
  InjectPublisher,
  NatsApp,
  OutgoingValidationError,
  Payload,
  Publish,
  Publisher,
  SetupError,
  Subscribe,
  ValidationError,
  type InboundMessage,
  type MessageHeaders,
  type NatsOutgoingMiddleware,
  type OnReady,
  type OutgoingMessage,
  type OutgoingMiddleware,
  type PubAck,
  type Transport,
} from "@natsflow/core";
import { captureLogs } from "@natsflow/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";

import type { SuiteEnvironment } from "./handler-suite.js";

const enc = new TextEncoder();
const dec = new TextDecoder();

const Created = z.object({ id: z.string(), total: z.number().nonnegative() });
type Created = z.infer<typeof Created>;

const stamp: OutgoingMiddleware = async (m, next) => {
  m.headers["X-Publisher"] = "order-created";
  await next();
};
const ORDER_CREATED = definePublisher<Created>("pub.orders.created", { schema: Created, description: "An order was created.", middleware: [stamp] });
const AUDIT = definePublisher("pub.audit", { codec: "string", headers: { "X-Kind": "audit" } });
const EVENTS = defineStream({ name: "PUB_EVENTS", subjects: ["pub.events.>"], storage: "memory" });
const STORED = definePublisher<Created>("pub.events.stored", { schema: Created, stream: EVENTS });

@injectable()
@Controller("pub")
class Orders {
  constructor(@InjectPublisher(ORDER_CREATED) private readonly created: Publisher<Created>) {}

  @Subscribe("create")
  async create(@Payload() order: Created) {
    await this.created.publish(order);
    return { ok: true };
  }

  @Subscribe("echo")
  @Publish("pub.echoed")
  echo(@Payload() body: unknown) {
    return body;
  }
}

class Keys {
  readonly id = "key-1";
}

/** An outgoing middleware class, created through the container with what it injects. */
@injectable()
class Signer implements NatsOutgoingMiddleware {
  constructor(private readonly keys: Keys) {}
  async use(m: OutgoingMessage, next: () => Promise<void>) {
    m.headers["X-Signed-By"] = this.keys.id;
    await next();
  }
}

/** Outgoing middleware that appends `label` to the X-Trail header: the order the chain ran in. */
const trail =
  (label: string): OutgoingMiddleware =>
  async (m, next) => {
    const was = m.headers["X-Trail"];
    m.headers["X-Trail"] = was ? `${String(was)},${label}` : label;
    await next();
  };
const ROUTED = definePublisher<{ n: number }>("rout.out.publisher", { middleware: [trail("publisher")] });
const ROUTED_STREAM = defineStream({ name: "ROUT_EVENTS", subjects: ["rout.js.>"], storage: "memory" });
const ROUTED_STORED = definePublisher("rout.js.declared", { stream: ROUTED_STREAM });

@injectable()
@Controller("orders")
class RoutedOrders {
  constructor(
    @InjectPublisher(ROUTED) private readonly routed: Publisher<{ n: number }>,
    private readonly broker: Broker,
  ) {}

  @Subscribe("publish")
  @Publish("rout.out.target", { middleware: [trail("target")] })
  publish(@Payload() body: unknown) {
    return body;
  }

  @Subscribe("publisher")
  async publisher() {
    await this.routed.publish({ n: 1 });
    return { ok: true };
  }

  @Subscribe("broker")
  async viaBroker() {
    await this.broker.publish("rout.out.broker", { n: 2 });
    const echoed = await this.broker.request<string>("rout.echo", { n: 3 });
    await this.broker.jetstream.publish("rout.js.broker", { n: 4 });
    return { echoed };
  }
}

/** Two handlers on one subject, in two routers without prefixes: each message runs through its own handler's router chain. */
@injectable()
class SharedA {
  constructor(private readonly broker: Broker) {}

  @Subscribe("rout.shared", { filter: { headers: { "X-To": "a" } } })
  async take() {
    await this.broker.publish("rout.out.shared", "a");
    return "a";
  }
}

@injectable()
class SharedB {
  constructor(private readonly broker: Broker) {}

  @Subscribe("rout.shared")
  async take() {
    await this.broker.publish("rout.out.shared", "b");
    return "b";
  }
}

@Controller("rout")
class Echo {
  @Subscribe("echo")
  echo(@Headers() headers: MessageHeaders | undefined) {
    return headers?.get("X-Trail") ?? "";
  }
}

/** Messages a plain client sees on `subject`, from now on. */
function listen(client: Transport, subject: string): InboundMessage[] {
  const seen: InboundMessage[] = [];
  client.subscribe(subject, {}, (m) => seen.push(m));
  return seen;
}

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(check()).toBe(true);
}

export function publishersSuite(name: string, setup: () => Promise<SuiteEnvironment>): void {
  describe(`declared publishers and outgoing middleware on ${name}`, () => {
    let env: SuiteEnvironment;
    let client: Transport;
    let app: NatsApp;
    const outgoing: OutgoingMessage[] = [];
    const logs = captureLogs();
    const appStamp: OutgoingMiddleware = async (m, next) => {
      if (m.subject === "pub.refused") throw new Error("refused by policy");
      m.headers["X-App"] = "natsflow";
      if (m.subject === "pub.rewrite") m.data = enc.encode("rewritten");
      outgoing.push(m);
      await next();
    };

    beforeAll(async () => {
      env = await setup();
      client = await env.client();
      app = await NatsApp.create({ ...env.appOptions(), controllers: [Orders], providers: [Keys], publishers: [AUDIT, STORED], outgoingMiddleware: [appStamp, Signer], logger: logs.logger });
      await expect(app.publisher(AUDIT).publish("too early")).rejects.toBeInstanceOf(ConnectionError);
      await app.start();
    });
    afterAll(async () => {
      await app?.stop();
      await client?.close();
      await env?.stop();
    });

    it("refuses an invalid payload with an OutgoingValidationError before anything is sent; a valid one arrives with the outgoing middleware's headers", async () => {
      const seen = listen(client, "pub.orders.created");
      await client.flush();
      const publisher = app.publisher(ORDER_CREATED);
      const refused = await publisher.publish({ id: "1", total: -5 }).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(OutgoingValidationError);
      // The service's own fault, not the caller's: not a ValidationError (a 400).
      expect(refused).not.toBeInstanceOf(ValidationError);
      expect(refused).toMatchObject({ sender: "pub.orders.created", issues: [{ path: "total" }] });
      await expect(publisher.publish({ id: 2 } as never)).rejects.toBeInstanceOf(OutgoingValidationError);
      await client.flush();
      await new Promise((r) => setTimeout(r, 50));
      expect(seen).toEqual([]);
      await publisher.publish({ id: "3", total: 9 });
      await until(() => seen.length === 1);
      expect(JSON.parse(dec.decode(seen[0]?.data))).toEqual({ id: "3", total: 9 });
      expect(seen[0]?.headers?.get("X-Publisher")).toBe("order-created");
      expect(seen[0]?.headers?.get("X-App")).toBe("natsflow");
      expect(seen[0]?.headers?.get("X-Signed-By")).toBe("key-1");
      expect(outgoing.at(-1)).toMatchObject({ operation: "publish", sender: "pub.orders.created", value: { id: "3", total: 9 } });
    });

    it("is injected into handlers: one sent from a handler reaches a subscriber", async () => {
      const seen = listen(client, "pub.orders.created");
      await client.flush();
      const reply = await client.request("pub.create", enc.encode(JSON.stringify({ id: "7", total: 1 })), { timeoutMs: 2000 });
      expect(JSON.parse(dec.decode(reply.data))).toEqual({ ok: true });
      await until(() => seen.length === 1);
      expect(seen[0]?.headers?.get("X-Publisher")).toBe("order-created");
      // The handler reaches the Broker only through its publisher: its sends still carry the message's correlation id.
      const id = seen[0]?.headers?.get("Correlation-Id");
      expect(id).toMatch(/^[0-9a-f-]{36}$/);
      expect(reply.headers?.get("Correlation-Id")).toBe(id);
      // An invalid event made by a handler fails the handler with a 500 (the service's fault, not the
      // caller's), logged at error with the issues; nothing is sent.
      const bad = await client.request("pub.create", enc.encode(JSON.stringify({ id: "8", total: -1 })), { timeoutMs: 2000 });
      expect(bad.headers?.get("Nats-Service-Error-Code")).toBe("500");
      expect(bad.headers?.get("Nats-Service-Error")).toBe("internal error");
      const logged = logs.find(/handler failed/).at(-1) as { level: number; err?: { type?: string; issues?: unknown } } | undefined;
      expect(logged?.level).toBe(50);
      expect(logged?.err).toMatchObject({ type: "OutgoingValidationError", issues: [{ path: "total" }] });
      expect(seen).toHaveLength(1);
    });

    it("sends from a lifecycle hook and from a timer", async () => {
      @injectable()
      class Announcer implements OnReady {
        constructor(@InjectPublisher(AUDIT) private readonly audit: Publisher<string>) {}
        async onReady() {
          await this.audit.publish("ready");
          setTimeout(() => void this.audit.publish("tick"), 10);
        }
      }
      const seen = listen(client, "pub.audit");
      await client.flush();
      const other = await NatsApp.create({ ...env.appOptions(), providers: [Announcer], logger: captureLogs().logger });
      await other.start();
      try {
        await until(() => seen.length === 2);
        expect(seen.map((m) => dec.decode(m.data))).toEqual(["ready", "tick"]);
      } finally {
        await other.stop();
      }
    });

    it("puts the declaration's headers under the call's, and publishes to a stream with its PubAck", async () => {
      const seen = listen(client, "pub.audit");
      await client.flush();
      await app.publisher(AUDIT).publish("hello", { headers: { "X-Call": "1" } });
      await until(() => seen.length === 1);
      expect(dec.decode(seen[0]?.data)).toBe("hello");
      expect(seen[0]?.headers?.get("X-Kind")).toBe("audit");
      expect(seen[0]?.headers?.get("X-Call")).toBe("1");
      const ack: PubAck = await app.publisher(STORED).publish({ id: "s1", total: 3 }, { msgId: "s1" });
      expect(ack.stream).toBe("PUB_EVENTS");
      expect(outgoing.at(-1)).toMatchObject({ operation: "jetstream", subject: "pub.events.stored", result: ack });
      await expect(app.publisher(STORED).publish({ id: "s2", total: -3 })).rejects.toBeInstanceOf(OutgoingValidationError);
    });

    it("runs the app's outgoing chain for Broker publish, request, JetStream publish and @Publish; a refusal sends nothing", async () => {
      const broker = app.container.resolve(Broker);
      const rewritten = listen(client, "pub.rewrite");
      const echoed = listen(client, "pub.echoed");
      const refused = listen(client, "pub.refused");
      await client.flush();
      await broker.publish("pub.rewrite", "original");
      await until(() => rewritten.length === 1);
      expect(dec.decode(rewritten[0]?.data)).toBe("rewritten");
      expect(rewritten[0]?.headers?.get("X-App")).toBe("natsflow");

      await expect(broker.publish("pub.refused", "x")).rejects.toThrow("refused by policy");
      // Unawaited, a refusal is reported, not an unhandled rejection.
      void broker.publish("pub.refused", "y");
      await broker.request("pub.echo", { n: 1 });
      expect(outgoing.at(-2)).toMatchObject({ operation: "request", subject: "pub.echo", sender: "broker" });
      expect(outgoing.at(-1)).toMatchObject({ operation: "publish", subject: "pub.echoed", sender: "Orders.echo @Publish", value: { n: 1 } });
      await until(() => echoed.length === 1);
      expect(echoed[0]?.headers?.get("X-App")).toBe("natsflow");

      const ack = await broker.jetstream.publish("pub.events.raw", { raw: true });
      expect(ack.stream).toBe("PUB_EVENTS");
      expect(outgoing.at(-1)).toMatchObject({ operation: "jetstream", subject: "pub.events.raw", sender: "broker" });
      await client.flush();
      expect(refused).toEqual([]);
      // Argument mistakes still throw at once, as without middleware.
      expect(() => broker.publish("pub.a b", 1)).toThrow();
    });

    it("runs a router's outgoing middleware, nested routers' in order between the app's and the sender's, for @Publish, declared publishers and the Broker in its handlers", async () => {
      const inner = defineRouter({ prefix: "inner", controllers: [RoutedOrders], outgoingMiddleware: [trail("inner")] });
      const outer = defineRouter({ prefix: "rout", routers: [inner], outgoingMiddleware: [trail("outer")] });
      const routed = await NatsApp.create({
        ...env.appOptions(),
        controllers: [Echo],
        routers: [outer],
        publishers: [ROUTED_STORED],
        outgoingMiddleware: [trail("app")],
        logger: captureLogs().logger,
      });
      await routed.start();
      try {
        const seen = listen(client, "rout.out.>");
        const stored = listen(client, "rout.js.>");
        await client.flush();
        const trailOf = (list: InboundMessage[], subject: string) => list.filter((m) => m.subject === subject).map((m) => m.headers?.get("X-Trail"));
        const ask = (subject: string) => client.request(subject, enc.encode("{}"), { timeoutMs: 2000 });
        await ask("rout.inner.orders.publish");
        await ask("rout.inner.orders.publisher");
        const reply = await ask("rout.inner.orders.broker");
        await until(() => seen.length === 3 && stored.length === 1);
        expect(trailOf(seen, "rout.out.target")).toEqual(["app,outer,inner,target"]);
        expect(trailOf(seen, "rout.out.publisher")).toEqual(["app,outer,inner,publisher"]);
        expect(trailOf(seen, "rout.out.broker")).toEqual(["app,outer,inner"]);
        expect(JSON.parse(dec.decode(reply.data))).toEqual({ echoed: "app,outer,inner" });
        expect(trailOf(stored, "rout.js.broker")).toEqual(["app,outer,inner"]);

        // Outside any router's handler: the app's chain only (and the publisher's own).
        await routed.container.resolve(Broker).publish("rout.out.broker", { n: 5 });
        await routed.publisher(ROUTED).publish({ n: 6 });
        await until(() => seen.length === 5);
        expect(trailOf(seen, "rout.out.broker")).toEqual(["app,outer,inner", "app"]);
        expect(trailOf(seen, "rout.out.publisher")).toEqual(["app,outer,inner,publisher", "app,publisher"]);
      } finally {
        await routed.stop();
      }
    });

    it("runs the chain of the router whose handler a shared subscription's filter chose", async () => {
      const routed = await NatsApp.create({
        ...env.appOptions(),
        routers: [defineRouter({ name: "a", controllers: [SharedA], outgoingMiddleware: [trail("a")] }), defineRouter({ name: "b", controllers: [SharedB], outgoingMiddleware: [trail("b")] })],
        outgoingMiddleware: [trail("app")],
        logger: captureLogs().logger,
      });
      await routed.start();
      try {
        const seen = listen(client, "rout.out.shared");
        await client.flush();
        await client.request("rout.shared", enc.encode("{}"), { timeoutMs: 2000, headers: { "X-To": "a" } });
        await client.request("rout.shared", enc.encode("{}"), { timeoutMs: 2000 });
        await until(() => seen.length === 2);
        expect(seen.map((m) => [dec.decode(m.data), m.headers?.get("X-Trail")])).toEqual([
          ["a", "app,a"],
          ["b", "app,b"],
        ]);
      } finally {
        await routed.stop();
      }
    });

    it("lists declared publishers as send operations with their schemas in a document the AsyncAPI parser accepts", async () => {
      const doc = await app.asyncapi({ title: "pubs", version: "1.0.0" });
      const { document, diagnostics } = await new Parser().parse(JSON.stringify(doc));
      expect(diagnostics.filter((d) => d.severity === 0)).toEqual([]);
      const send = document?.operations().all().find((o) => o.id() === "publish_pub_orders_created");
      expect(send?.action()).toBe("send");
      expect(send?.summary()).toBe("An order was created.");
      expect(send?.channels().all()[0]?.address()).toBe("pub.orders.created");
      const payload = send?.messages().all()[0]?.payload()?.json() as { required?: string[] } | undefined;
      expect(payload?.required).toEqual(["id", "total"]);
      expect(document?.operations().all().some((o) => o.id() === "publish_pub_events_stored" && o.action() === "send")).toBe(true);
      expect(document?.operations().all().some((o) => o.id() === "publish_pub_audit")).toBe(true);
    });

    it("refuses bad declarations and bad outgoing middleware at create, naming the setting", async () => {
      const wild = definePublisher("pub.*.x");
      await expect(NatsApp.create({ ...env.appOptions(), publishers: [wild] })).rejects.toThrow(SetupError);
      const elsewhere = definePublisher("other.subject", { stream: EVENTS });
      await expect(NatsApp.create({ ...env.appOptions(), publishers: [elsewhere] })).rejects.toThrow(/does not store other.subject/);
      await expect(NatsApp.create({ ...env.appOptions(), outgoingMiddleware: ["nope" as never] })).rejects.toThrow(/outgoingMiddleware\[0\]/);
    });
  });
}
