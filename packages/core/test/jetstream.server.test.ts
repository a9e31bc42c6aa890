/**
 * JetStream consumers against a real nats-server with JetStream: the shared suite (jetstream-suite.ts,
 * also run on TestBroker), then what only a server shows: its consumer and stream info, shutdown and
 * restart, ack modes and option validation.
 */
import "reflect-metadata";

import {
  connectNats,
  Consume,
  Controller,
  defineStream,
  Delivery,
  NatsApp,
  Payload,
  SetupError,
  Subscribe,
  Use,
  type ConsumeOptions,
  type Constructor,
  type JetStreamDelivery,
  type Middleware,
  type NatsAppOptions,
} from "@natsflow/core";
import { captureLogs, startNatsServer, type NatsServer } from "@natsflow/testing";
import { connect, type JetStreamManager, type Msg, type NatsConnection } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";

import { jetstreamSuite } from "./jetstream-suite.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

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

async function startApp(controllers: Constructor | Constructor[], options: Partial<NatsAppOptions> = {}): Promise<NatsApp> {
  const list = Array.isArray(controllers) ? controllers : [controllers];
  const app = await NatsApp.create({ servers: server.url, controllers: list, logger: captureLogs("warn").logger, shutdownTimeoutMs: 5_000, ...options });
  apps.push(app);
  await app.start();
  return app;
}

/** Every message a plain subscriber sees on `subject`. */
function collect(subject: string): Msg[] {
  const got: Msg[] = [];
  nc.subscribe(subject, { callback: (_e, m) => got.push(m) });
  return got;
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

describe("@Consume on a durable pull consumer", () => {
  it("stop() mid-batch finishes and acks what it started; a restarted app gets only the rest", async () => {
    const stream = defineStream({ name: "SHUTDOWN", subjects: ["shutdown.>"] });
    const started: number[] = [];
    const finished: number[] = [];
    @Controller()
    class Worker {
      @Consume("shutdown.jobs", { stream, durable: "worker", concurrency: 4, ackWait: "2s" })
      async handle(@Delivery() d: JetStreamDelivery) {
        started.push(d.sequence);
        await sleep(300);
        finished.push(d.sequence);
      }
    }
    // The stream exists only once the first app started: publish after that.
    const first = await startApp(Worker);
    for (let i = 0; i < 20; i++) await first.broker.jetstream.publish("shutdown.jobs", String(i));
    await waitFor("a first batch", () => started.length >= 4);
    await first.stop();
    const firstStarted = [...started].sort((a, b) => a - b);
    expect(firstStarted.length).toBeGreaterThanOrEqual(4);
    expect([...finished].sort((a, b) => a - b)).toEqual(firstStarted);
    // Every slot was busy at stop, so no pull was out: what was started is exactly what is acked.
    const lastStarted = Math.max(...firstStarted);
    await waitFor("the acks of the first app", async () => (await jsm.consumers.info("SHUTDOWN", "worker")).ack_floor.stream_seq === lastStarted);
    expect((await jsm.consumers.info("SHUTDOWN", "worker")).num_ack_pending).toBe(0);
    const logs = captureLogs("info");
    await startApp(Worker, { logger: logs.logger });
    expect(logs.find(/consumer (created|updated)/)).toHaveLength(0);
    await waitFor("every message", () => new Set(finished).size >= 20, 15_000);
    await sleep(300);
    const counts = new Map<number, number>();
    for (const s of started) counts.set(s, (counts.get(s) ?? 0) + 1);
    console.log(`shutdown: ${firstStarted.length} handled before stop, ${started.length - firstStarted.length} after restart`);
    expect([...counts.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
  });
});

describe("ack modes", () => {
  it("sends working() while a handler outlives ackWait, so it is delivered once", async () => {
    const stream = defineStream({ name: "LONG", subjects: ["long.>"] });
    const deliveries: number[] = [];
    @Controller()
    class Long {
      @Consume("long.x", { stream, durable: "long", ackWait: "1s" })
      async handle(@Delivery() d: JetStreamDelivery) {
        deliveries.push(d.deliveries);
        await sleep(2_500);
      }
    }
    const app = await startApp(Long);
    await app.broker.jetstream.publish("long.x", {});
    await waitFor("the ack", async () => (await jsm.consumers.info("LONG", "long")).ack_floor.stream_seq === 1, 8_000);
    expect(deliveries).toEqual([1]);
    expect((await jsm.consumers.info("LONG", "long")).num_redelivered).toBe(0);
  });

  it("manual: returning unsettled naks it; the handler's own ack settles it; middleware and DI as for @Subscribe", async () => {
    class Ledger {
      readonly entries: string[] = [];
    }
    const trail: string[] = [];
    const app1: Middleware = async (_ctx, next) => {
      trail.push("app");
      await next();
    };
    const method: Middleware = async (ctx, next) => {
      trail.push(`method:${ctx.handler.name}`);
      await next();
    };
    const stream = defineStream({ name: "MANUAL", subjects: ["manual.>"] });
    @Controller()
    class Manual {
      constructor(readonly ledger: Ledger) {}
      @Consume("manual.x", { stream, durable: "manual", ack: "manual", schema: z.object({ n: z.number() }), retry: { backoffMs: [50] } })
      @Use(method)
      handle(@Payload() p: { n: number }, @Delivery() d: JetStreamDelivery) {
        this.ledger.entries.push(`${p.n}:${d.deliveries}`);
        if (d.deliveries === 2) d.ack();
      }
    }
    const app = await startApp(Manual, { providers: [Ledger], middleware: [app1] });
    await app.broker.jetstream.publish("manual.x", { n: 7 });
    await waitFor("the ack", async () => (await jsm.consumers.info("MANUAL", "manual")).ack_floor.stream_seq === 1);
    await sleep(300);
    expect(app.container.resolve(Ledger).entries).toEqual(["7:1", "7:2"]);
    expect(trail).toEqual(["app", "method:Manual.handle", "app", "method:Manual.handle"]);
    const outcomes = Object.fromEntries((await app.metrics.jetstream.get()).values.map((v) => [v.labels.outcome, v.value]));
    expect(outcomes).toMatchObject({ nak: 1, ack: 1 });
  });

  it("ack-first: acked before the handler, so a failure is dead-lettered, never retried", async () => {
    const stream = defineStream({ name: "FIRST", subjects: ["first.>"] });
    let calls = 0;
    @Controller()
    class First {
      @Consume("first.x", { stream, durable: "first", ack: "ack-first", ackWait: "1s", deadLetter: "first-dlq" })
      handle() {
        calls++;
        throw new Error("boom");
      }
    }
    const dlq = collect("first-dlq");
    const app = await startApp(First);
    await app.broker.jetstream.publish("first.x", {});
    await waitFor("the dead letter", () => dlq.length === 1);
    await sleep(1_300);
    expect(calls).toBe(1);
    expect(dlq).toHaveLength(1);
    expect((await jsm.consumers.info("FIRST", "first")).num_ack_pending).toBe(0);
  });

  it("updates a durable whose settings drifted from the declaration", async () => {
    const stream = defineStream({ name: "REDEF", subjects: ["redef.>"] });
    const make = (ackWait: string) => {
      @Controller()
      class Redef {
        @Consume("redef.x", { stream, durable: "redef", ackWait, concurrency: 3 })
        handle() {}
      }
      return Redef;
    };
    const first = await startApp(make("2s"));
    await first.stop();
    const logs = captureLogs("info");
    await startApp(make("3s"), { logger: logs.logger });
    expect(logs.find(/consumer updated/)[0]).toMatchObject({ changed: ["ackWaitMs"] });
    const info = await jsm.consumers.info("REDEF", "redef");
    expect(info.config.ack_wait).toBe(3e9);
    expect(info.config.max_ack_pending).toBe(3);
  });
});

describe("streams and publishing", () => {
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

  it("fails start when bind: true names a consumer that does not exist", async () => {
    const stream = defineStream({ name: "BOUND", subjects: ["bound.>"] });
    @Controller()
    class Bound {
      @Consume("bound.x", { stream, durable: "nobody", bind: true })
      handle() {}
    }
    const app = await NatsApp.create({ servers: server.url, controllers: [Bound], logger: captureLogs("warn").logger });
    apps.push(app);
    await expect(app.start()).rejects.toMatchObject({ name: "SetupError", setting: "Bound.handle durable" });
  });
});

describe("option validation at NatsApp.create", () => {
  const stream = defineStream({ name: "OPTS", subjects: ["opts.>"] });
  const consumer = (options: Partial<ConsumeOptions>, subject = "opts.a") => {
    @Controller()
    class Opts {
      @Consume(subject, { stream, durable: "opts", ...options })
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
    ["a stream that is not declared", consumer({ stream: { name: "X" } as never }), "Opts.handle stream"],
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
});
