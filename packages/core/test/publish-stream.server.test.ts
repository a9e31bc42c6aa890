/**
 * `@Publish` to a JetStream stream against a real nats-server with JetStream: a `@Consume` handler's
 * event is stored before its message is acked, and bad declarations are refused. Replies after
 * storing, `msgId` duplicates and the 503 of a failed PubAck are in the shared jetstream-suite.ts.
 */
import "reflect-metadata";

import { Consume, Controller, defineStream, NatsApp, Payload, Publish, SetupError, Subscribe, type Constructor } from "@natsflow/core";
import { captureLogs, startNatsServer, type NatsServer } from "@natsflow/testing";
import { connect, type JetStreamManager, type NatsConnection } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const enc = new TextEncoder();

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
