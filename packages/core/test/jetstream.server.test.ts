/**
 * JetStream consumers against a real nats-server with JetStream: the shared suite (jetstream-suite.ts,
 * also run on TestBroker), then what only a server shows: the settings in its stream and consumer
 * info; and option validation at create.
 */
import "reflect-metadata";

import {
  connectNats,
  Consume,
  DEAD_LETTER_ERROR_HEADER,
  Controller,
  defineStream,
  Delivery,
  HandlerError,
  NatsApp,
  Payload,
  Publish,
  SetupError,
  Subscribe,
  type ConsumeOptions,
  type Constructor,
  type JetStreamDelivery,
} from "@natsflow/core";
import { captureLogs, startNatsServer, type NatsServer } from "@natsflow/testing";
import { connect, headers, type JetStreamManager, type Msg, type NatsConnection } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { jetstreamSuite } from "./jetstream-suite.js";

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

jetstreamSuite("a real nats-server", async () => ({
  appOptions: () => ({ servers: server.url }),
  client: () => connectNats({ servers: server.url }),
  consumerState: async (stream, durable) => {
    const info = await jsm.consumers.info(stream, durable);
    return { numPending: info.num_pending, numAckPending: info.num_ack_pending, numRedelivered: info.num_redelivered, ackFloor: info.ack_floor.stream_seq };
  },
  stored: async (stream) => (await jsm.streams.info(stream)).state.messages,
  lastMessage: async (stream, subject) => {
    const m = await jsm.streams.getMessage(stream, { last_by_subj: subject });
    return { data: m.data, header: (name) => (m.header.has(name) ? m.header.get(name) : undefined) };
  },
  deleteStream: async (name) => void (await jsm.streams.delete(name)),
  stop: async () => undefined,
}));

describe("streams and durables as the server reports them", () => {
  it("declares the stream and the durable with the settings the server reports", async () => {
    const stream = defineStream({ name: "DECLARED", subjects: ["declared.>"], duplicateWindow: "1m", maxAge: "7d" });
    @Controller()
    class Sink {
      @Consume("declared.events", { stream, durable: "sink", concurrency: 2, ackWait: "3s" })
      handle() {}
    }
    await startApp(Sink);
    const config = (await jsm.streams.info("DECLARED")).config;
    expect(config.max_age).toBe(7 * 86_400 * 1e9);
    expect(config.duplicate_window).toBe(60 * 1e9);
    const consumer = (await jsm.consumers.info("DECLARED", "sink")).config;
    expect(consumer).toMatchObject({ max_ack_pending: 2, ack_wait: 3e9, filter_subject: "declared.events" });
  });

  it("a push durable: its deliver subject and group, bound by the running app", async () => {
    const stream = defineStream({ name: "DECLARED_PUSH", subjects: ["declared-push.>"] });
    @Controller()
    class Pushed {
      @Consume("declared-push.events", { stream, durable: "pushed", push: { deliverSubject: "deliver.pushed" }, concurrency: 3 })
      handle() {}
    }
    await startApp(Pushed);
    const info = await jsm.consumers.info("DECLARED_PUSH", "pushed");
    expect(info.config).toMatchObject({ deliver_subject: "deliver.pushed", deliver_group: "pushed", max_ack_pending: 3, ack_policy: "explicit" });
    await expect.poll(async () => (await jsm.consumers.info("DECLARED_PUSH", "pushed")).push_bound).toBe(true);
  });
});

describe("option validation at NatsApp.create", () => {
  const stream = defineStream({ name: "OPTS", subjects: ["opts.>"] });
  const consumer = (options: Partial<ConsumeOptions>, subject = "opts.a") => {
    @Controller()
    class Opts {
      @Consume(subject, { stream, durable: "opts", ...options } as ConsumeOptions)
      handle(@Payload() _p: unknown) {}
    }
    return Opts;
  };
  const cases: Array<[string, Constructor, string]> = [
    ["a durable that is not a consumer name", consumer({ durable: "bad.name" }), "Opts.handle durable"],
    ["maxDeliver < 1", consumer({ retry: { maxDeliver: 0 } }), "Opts.handle retry.maxDeliver"],
    ["an empty backoff", consumer({ retry: { backoffMs: [] } }), "Opts.handle retry.backoffMs"],
    ["a wildcard dead-letter subject", consumer({ deadLetter: "dlq.*" }), "Opts.handle deadLetter"],
    ["a dead-letter subject the handler consumes", consumer({ deadLetter: "opts.dlq" }, "opts.>"), "Opts.handle deadLetter"],
    ["manual acks without @Delivery()", consumer({ ack: "manual" }), "Opts.handle ack"],
    ["retry with ack-first", consumer({ ack: "ack-first", retry: { maxDeliver: 2 } }), "Opts.handle retry"],
    ["a subject the stream does not store", consumer({}, "elsewhere.a"), "Opts.handle subject"],
    ["a malformed ackWait", consumer({ ackWait: "5 minutes" }), "Opts.handle ackWait"],
    ["bind with an ackWait", consumer({ bind: true, ackWait: "10s" }), "Opts.handle bind"],
    ["ordered with a durable name", consumer({ ordered: true } as never), "Opts.handle durable"],
    ["push with ack-first", consumer({ push: true, ack: "ack-first" }), "Opts.handle push"],
    ["push with bind", consumer({ push: true, bind: true }), "Opts.handle push"],
    ["a push deliver subject with wildcards", consumer({ push: { deliverSubject: "deliver.*" } }), "Opts.handle push.deliverSubject"],
    ["a stream that is not declared", consumer({ stream: { name: "X" } as never }), "Opts.handle stream"],
    ["batch with push", consumer({ batch: { max: 10 }, push: true }), "Opts.handle batch"],
    ["batch with ack-first", consumer({ batch: { max: 10 }, ack: "ack-first" }), "Opts.handle batch"],
    ["batch with a filter", consumer({ batch: { max: 10 }, filter: { headers: { kind: "a" } } }), "Opts.handle batch"],
    ["batch that is not an object", consumer({ batch: 10 as never }), "Opts.handle batch"],
    ["a batch max < 1", consumer({ batch: { max: 0 } }), "Opts.handle batch.max"],
    ["a batch max that is not whole", consumer({ batch: { max: 2.5 } }), "Opts.handle batch.max"],
    ["a batch maxBytes < 1", consumer({ batch: { max: 10, maxBytes: 0 } }), "Opts.handle batch.maxBytes"],
    ["a batch that never waits to fill", consumer({ batch: { max: 10, expiresMs: 0 } }), "Opts.handle batch.expiresMs"],
    ["a bad stream maxAge", consumer({ stream: defineStream({ name: "OPTS", subjects: ["opts.>"], maxAge: "7 days" }) }), "stream OPTS maxAge"],
  ];
  it.each(cases)("%s", async (_what, controller, setting) => {
    const failed = await NatsApp.create({ servers: server.url, controllers: [controller] }).then(() => undefined, (e: unknown) => e);
    expect(failed).toBeInstanceOf(SetupError);
    expect((failed as SetupError).setting).toBe(setting);
  });

  it("@Delivery() on a @Subscribe handler, and two handlers on one durable", async () => {
    @Controller()
    class Wrong {
      @Subscribe("wrong.a")
      handle(@Delivery() _d: JetStreamDelivery) {}
    }
    await expect(NatsApp.create({ servers: server.url, controllers: [Wrong] })).rejects.toMatchObject({ setting: "Wrong.handle @Delivery()" });
    @Controller()
    class Twice {
      @Consume("opts.a", { stream, durable: "same" })
      a() {}
      @Consume("opts.b", { stream, durable: "same" })
      b() {}
    }
    await expect(NatsApp.create({ servers: server.url, controllers: [Twice] })).rejects.toMatchObject({ setting: "Twice.b durable" });
  });

  it("batch: not on an ordered consumer, and no @Publish of a batch's result", async () => {
    @Controller()
    class OrderedBatch {
      @Consume("opts.a", { stream, ordered: true, batch: { max: 10 } } as never)
      handle() {}
    }
    await expect(NatsApp.create({ servers: server.url, controllers: [OrderedBatch] })).rejects.toMatchObject({ setting: "OrderedBatch.handle batch" });
    @Controller()
    class Publishes {
      @Consume("opts.a", { stream, durable: "publishes", batch: { max: 10 } })
      @Publish("opts.out")
      handle() {
        return {};
      }
    }
    await expect(NatsApp.create({ servers: server.url, controllers: [Publishes] })).rejects.toMatchObject({ setting: "Publishes.handle @Publish" });
  });

  it("ordered: no @Delivery() to settle with, and startAt must say where", async () => {
    @Controller()
    class Settles {
      @Consume("opts.a", { stream, ordered: true })
      handle(@Delivery() _d: JetStreamDelivery) {}
    }
    await expect(NatsApp.create({ servers: server.url, controllers: [Settles] })).rejects.toMatchObject({ setting: "Settles.handle @Delivery()" });
    @Controller()
    class Nowhere {
      @Consume("opts.a", { stream, ordered: true, startAt: { sequence: 0 } })
      handle() {}
    }
    await expect(NatsApp.create({ servers: server.url, controllers: [Nowhere] })).rejects.toMatchObject({ setting: "Nowhere.handle startAt" });
  });
});

const enc = new TextEncoder();
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

describe("dead letters of messages other clients sent", () => {
  it("are sent even when an inbound header holds a control character natsflow would not send: it becomes a space", async () => {
    const stream = defineStream({ name: "S_FOREIGN", subjects: ["s-foreign.>"] });
    @Controller()
    class Refuses {
      @Consume("s-foreign.in", { stream, durable: "refuses", codec: "bytes", retry: { maxDeliver: 1 }, deadLetter: "s-foreign-dlq" })
      handle(): never {
        throw new HandlerError("not for us", 422);
      }
    }
    const dlq: Msg[] = [];
    nc.subscribe("s-foreign-dlq", { callback: (_e, m) => dlq.push(m) });
    await nc.flush();
    await startApp(Refuses);
    // The `nats` client lets a NUL or an escape through in a header value.
    const h = headers();
    h.set("X-Raw", "a\u0000b\u001bc");
    await nc.jetstream().publish("s-foreign.in", new TextEncoder().encode("x"), { headers: h });
    await expect.poll(() => dlq.length, { timeout: 10_000 }).toBe(1);
    expect(dlq[0]?.headers?.get("X-Raw")).toBe("a b c");
    expect(dlq[0]?.headers?.get(DEAD_LETTER_ERROR_HEADER)).toBe("HandlerError: not for us");
  });
});
