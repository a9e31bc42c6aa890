/**
 * `@Publish` to a JetStream stream against a real nats-server with JetStream: the reply leaves only
 * once the event is stored, duplicates are detected by `msgId`, a failed PubAck is a 503, and a
 * `@Consume` handler's event is stored before its message is acked.
 */
import "reflect-metadata";

import { Consume, Controller, defineStream, NatsApp, Payload, Publish, SetupError, Subscribe, type Constructor } from "@natsflow/core";
import { captureLogs, startNatsServer, type NatsServer } from "@natsflow/testing";
import { connect, type JetStreamManager, type NatsConnection } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const enc = new TextEncoder();
const dec = new TextDecoder();

let server: NatsServer;
let nc: NatsConnection;
let jsm: JetStreamManager;
const apps: NatsApp[] = [];

beforeAll(async () => {
  server = await startNatsServer({ jetstream: true });
  nc = await connect({ servers: server.url });
  jsm = await nc.jetstreamManager();
});

afterAll(async () => {
  await Promise.all(apps.map((a) => a.stop()));
  await nc?.close();
  await server?.stop();
});

async function startApp(...controllers: Constructor[]): Promise<NatsApp> {
  const app = await NatsApp.create({ servers: server.url, controllers, logger: captureLogs("warn").logger });
  apps.push(app);
  await app.start();
  return app;
}

const EVENTS = defineStream({ name: "PUB_EVENTS", subjects: ["pub.events.>"] });
const stored = async (stream: string) => (await jsm.streams.info(stream)).state.messages;

interface Order {
  id: string;
  item: string;
}

describe("@Publish to a stream", () => {
  it("replies only after the event is stored; the same msgId is stored once", async () => {
    @Controller("pub")
    class Orders {
      @Subscribe("create")
      @Publish("pub.events.created", { stream: EVENTS, msgId: (order: Order) => order.id, headers: { "X-Source": "orders" } })
      create(@Payload() order: Order) {
        return order;
      }
    }
    await startApp(Orders);
    const reply = await nc.request("pub.create", enc.encode(JSON.stringify({ id: "o-1", item: "cake" })), { timeout: 5000 });
    expect(JSON.parse(dec.decode(reply.data))).toEqual({ id: "o-1", item: "cake" });
    // By the time the reply arrived, the event was in the stream.
    expect(await stored("PUB_EVENTS")).toBe(1);
    const event = await jsm.streams.getMessage("PUB_EVENTS", { last_by_subj: "pub.events.created" });
    expect(JSON.parse(dec.decode(event.data))).toEqual({ id: "o-1", item: "cake" });
    expect(event.header.get("Nats-Msg-Id")).toBe("o-1");
    expect(event.header.get("X-Source")).toBe("orders");
    // A retried request with the same order: answered again, stored once.
    await nc.request("pub.create", enc.encode(JSON.stringify({ id: "o-1", item: "cake" })), { timeout: 5000 });
    expect(await stored("PUB_EVENTS")).toBe(1);
    await nc.request("pub.create", enc.encode(JSON.stringify({ id: "o-2", item: "pie" })), { timeout: 5000 });
    expect(await stored("PUB_EVENTS")).toBe(2);
  });

  it("answers 503 when the event cannot be stored", async () => {
    const GONE = defineStream({ name: "PUB_GONE", subjects: ["gone.events.>"] });
    @Controller("gone")
    class Fragile {
      @Subscribe("create")
      @Publish("gone.events.created", { stream: GONE })
      create(@Payload() order: Order) {
        return order;
      }
    }
    await startApp(Fragile);
    await jsm.streams.delete("PUB_GONE");
    const reply = await nc.request("gone.create", enc.encode(JSON.stringify({ id: "g-1", item: "x" })), { timeout: 5000 });
    expect(reply.headers?.get("Nats-Service-Error-Code")).toBe("503");
    expect(dec.decode(reply.data)).toMatch(/event not stored in stream PUB_GONE/);
  });

  it("from a @Consume handler: the event is stored before the message is acked", async () => {
    const INBOX = defineStream({ name: "PUB_INBOX", subjects: ["inbox.>"] });
    const OUT = defineStream({ name: "PUB_OUT", subjects: ["out.>"] });
    @Controller()
    class Relay {
      @Consume("inbox.orders", { stream: INBOX, durable: "relay" })
      @Publish("out.orders", { stream: OUT, msgId: (order: Order) => order.id })
      relay(@Payload() order: Order) {
        return { ...order, relayed: true };
      }
    }
    await startApp(Relay);
    const js = nc.jetstream();
    for (const id of ["r-1", "r-2", "r-1"]) await js.publish("inbox.orders", enc.encode(JSON.stringify({ id, item: "x" })));
    const until = Date.now() + 10_000;
    while ((await jsm.consumers.info("PUB_INBOX", "relay")).num_pending > 0 || (await jsm.consumers.info("PUB_INBOX", "relay")).num_ack_pending > 0) {
      if (Date.now() > until) throw new Error("relay never caught up");
      await new Promise((r) => setTimeout(r, 20));
    }
    // Three consumed and acked; the duplicate r-1 stored once.
    expect((await jsm.consumers.info("PUB_INBOX", "relay")).ack_floor.stream_seq).toBe(3);
    expect(await stored("PUB_OUT")).toBe(2);
  });

  it("refuses at create a wildcard subject, a subject the stream does not store, and a msgId without a stream", async () => {
    const make = async (subject: string, options: Parameters<typeof Publish>[1]) => {
      @Controller()
      class Bad {
        @Subscribe("bad.in")
        @Publish(subject, options)
        handle() {
          return {};
        }
      }
      return NatsApp.create({ servers: server.url, controllers: [Bad], logger: captureLogs("warn").logger });
    };
    await expect(make("events.*", {})).rejects.toThrow(/@Publish\("events\.\*"\): is not a subject to publish on/);
    await expect(make("other.created", { stream: EVENTS })).rejects.toThrow(/stream PUB_EVENTS does not store other\.created/);
    await expect(make("pub.events.x", { msgId: () => "1" })).rejects.toBeInstanceOf(SetupError);
  });
});
