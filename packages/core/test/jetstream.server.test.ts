/**
 * JetStream consumers against a real nats-server with JetStream: what the server reports (consumer
 * info, delivery counts) and what a plain subscriber sees on the dead-letter subject.
 */
import "reflect-metadata";

import {
  Consume,
  Controller,
  DEAD_LETTER_DELIVERIES_HEADER,
  DEAD_LETTER_ERROR_HEADER,
  DEAD_LETTER_SEQUENCE_HEADER,
  DEAD_LETTER_STREAM_HEADER,
  defineStream,
  Delivery,
  NatsApp,
  Payload,
  PubAckError,
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

describe("@Consume on a durable pull consumer", () => {
  it("retries a failing message after the backoff delays, then acks it: 3 deliveries, nothing pending", async () => {
    const stream = defineStream({ name: "RETRY", subjects: ["retry.>"] });
    const times: number[] = [];
    const deliveries: number[] = [];
    @Controller()
    class Flaky {
      @Consume("retry.created", { stream, durable: "flaky", ackWait: "2s", retry: { backoffMs: [100, 300], maxDeliver: 5 } })
      handle(@Payload() _order: unknown, @Delivery() d: JetStreamDelivery) {
        times.push(Date.now());
        deliveries.push(d.deliveries);
        if (times.length <= 2) throw new Error("not yet");
      }
    }
    const app = await startApp(Flaky);
    const ack = await app.broker.jetstream.publish("retry.created", { id: "1" });
    expect(ack).toMatchObject({ stream: "RETRY", seq: 1, duplicate: false });
    await waitFor("3 deliveries", () => times.length >= 3);
    await waitFor("the ack", async () => (await jsm.consumers.info("RETRY", "flaky")).num_ack_pending === 0);
    await sleep(800);
    expect(deliveries).toEqual([1, 2, 3]);
    const gaps = [times[1]! - times[0]!, times[2]! - times[1]!];
    expect(gaps[0]).toBeGreaterThanOrEqual(90);
    expect(gaps[1]).toBeGreaterThanOrEqual(270);
    const info = await jsm.consumers.info("RETRY", "flaky");
    expect(info.num_ack_pending).toBe(0);
    expect(info.num_pending).toBe(0);
    expect(info.delivered.stream_seq).toBe(1);
    expect(info.ack_floor.stream_seq).toBe(1);
    console.log(`retry gaps: ${gaps.join(" ms, ")} ms (configured 100, 300)`);
  });

  it("terminates an invalid payload at once and dead-letters it once with the reason, never redelivered", async () => {
    const stream = defineStream({ name: "INVALID", subjects: ["invalid.>"] });
    let handled = 0;
    @Controller()
    class Strict {
      @Consume("invalid.orders", {
        stream,
        durable: "strict",
        schema: z.object({ id: z.string() }),
        ackWait: "1s",
        retry: { backoffMs: [100], maxDeliver: 4 },
        deadLetter: "invalid-dlq.orders",
      })
      handle(@Payload() _order: { id: string }) {
        handled++;
      }
    }
    const dlq = collect("invalid-dlq.orders");
    const app = await startApp(Strict);
    await app.broker.jetstream.publish("invalid.orders", { id: 5 }, { headers: { "X-Trace": "t-1" } });
    await waitFor("the dead letter", () => dlq.length >= 1);
    await sleep(1_500); // past ack wait and backoff: a redelivery would have shown by now
    expect(handled).toBe(0);
    expect(dlq).toHaveLength(1);
    const h = dlq[0]!.headers!;
    expect(h.get(DEAD_LETTER_STREAM_HEADER)).toBe("INVALID");
    expect(h.get(DEAD_LETTER_SEQUENCE_HEADER)).toBe("1");
    expect(h.get(DEAD_LETTER_DELIVERIES_HEADER)).toBe("1");
    expect(h.get(DEAD_LETTER_ERROR_HEADER)).toMatch(/^ValidationError: invalid payload: id:/);
    expect(h.get("X-Trace")).toBe("t-1");
    expect(JSON.parse(dlq[0]!.string())).toEqual({ id: 5 });
    const info = await jsm.consumers.info("INVALID", "strict");
    expect(info.num_ack_pending).toBe(0);
    expect(info.num_pending).toBe(0);
    expect(info.num_redelivered).toBe(0);
    const term = (await app.metrics.jetstream.get()).values.find((v) => v.labels.outcome === "term");
    expect(term?.value).toBe(1);
  });

  it("dead-letters a message that fails maxDeliver times, once, and stops delivering it", async () => {
    const stream = defineStream({ name: "POISON", subjects: ["poison.>"] });
    const deliveries: number[] = [];
    @Controller()
    class Broken {
      @Consume("poison.jobs", { stream, durable: "broken", codec: "bytes", ackWait: "1s", retry: { backoffMs: [50], maxDeliver: 3 }, deadLetter: "poison-dlq" })
      handle(@Delivery() d: JetStreamDelivery) {
        deliveries.push(d.deliveries);
        throw new Error("database down");
      }
    }
    const dlq = collect("poison-dlq");
    await startApp(Broken);
    await nc.jetstream().publish("poison.jobs", new TextEncoder().encode("job"));
    await waitFor("the dead letter", () => dlq.length >= 1);
    await sleep(1_500);
    expect(deliveries).toEqual([1, 2, 3]);
    expect(dlq).toHaveLength(1);
    expect(dlq[0]!.headers!.get(DEAD_LETTER_DELIVERIES_HEADER)).toBe("3");
    expect(dlq[0]!.headers!.get(DEAD_LETTER_ERROR_HEADER)).toBe("Error: database down");
    const info = await jsm.consumers.info("POISON", "broken");
    expect(info.num_ack_pending).toBe(0);
    expect(info.num_pending).toBe(0);
  });

  it("never has more messages out than concurrency: num_ack_pending ≤ 2 with 100 queued, each handled once", async () => {
    const stream = defineStream({ name: "FLOW", subjects: ["flow.>"] });
    const js = nc.jetstream();
    await jsm.streams.add({ name: "FLOW", subjects: ["flow.>"] });
    for (let i = 0; i < 100; i++) await js.publish("flow.items", new TextEncoder().encode(String(i)));
    const handled = new Map<number, number>();
    let running = 0;
    let maxRunning = 0;
    @Controller()
    class Slow {
      @Consume("flow.items", { stream, durable: "slow", concurrency: 2 })
      async handle(@Delivery() d: JetStreamDelivery) {
        maxRunning = Math.max(maxRunning, ++running);
        await sleep(15);
        handled.set(d.sequence, (handled.get(d.sequence) ?? 0) + 1);
        running--;
      }
    }
    await startApp(Slow);
    let maxAckPending = 0;
    let polls = 0;
    while (handled.size < 100) {
      const info = await jsm.consumers.info("FLOW", "slow");
      maxAckPending = Math.max(maxAckPending, info.num_ack_pending);
      polls++;
      await sleep(5);
    }
    await waitFor("the last ack", async () => (await jsm.consumers.info("FLOW", "slow")).num_ack_pending === 0);
    const info = await jsm.consumers.info("FLOW", "slow");
    console.log(`flow control: max num_ack_pending ${maxAckPending} over ${polls} polls, max handlers running ${maxRunning}`);
    expect(info.config.max_ack_pending).toBe(2);
    expect(maxAckPending).toBeGreaterThanOrEqual(1);
    expect(maxAckPending).toBeLessThanOrEqual(2);
    expect(maxRunning).toBeLessThanOrEqual(2);
    expect([...handled.values()].every((n) => n === 1)).toBe(true);
    expect(handled.size).toBe(100);
    expect(info.num_pending).toBe(0);
  });

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
  it("stores one msgId once, reports the duplicate, and refuses failed expectations", async () => {
    const stream = defineStream({ name: "DEDUP", subjects: ["dedup.>"], duplicateWindow: "1m", maxAge: "7d" });
    @Controller()
    class Sink {
      @Consume("dedup.events", { stream, durable: "sink" })
      handle() {}
    }
    const app = await startApp(Sink);
    const a = await app.broker.jetstream.publish("dedup.events", { n: 1 }, { msgId: "order-1" });
    const b = await app.broker.jetstream.publish("dedup.events", { n: 1 }, { msgId: "order-1" });
    expect(a).toEqual({ stream: "DEDUP", seq: 1, duplicate: false });
    expect(b).toEqual({ stream: "DEDUP", seq: 1, duplicate: true });
    expect((await jsm.streams.info("DEDUP")).state.messages).toBe(1);
    await expect(app.broker.jetstream.publish("dedup.events", "x", { expect: { lastSequence: 7 } })).rejects.toBeInstanceOf(PubAckError);
    await expect(app.broker.jetstream.publish("nobody.stores.this", "x")).rejects.toThrow(/no stream captures/);
    const config = (await jsm.streams.info("DEDUP")).config;
    expect(config.max_age).toBe(7 * 86_400 * 1e9);
    expect(config.duplicate_window).toBe(60 * 1e9);
  });

  it("fails start on a stream whose config drifted, naming the field; update: true updates it", async () => {
    await jsm.streams.add({ name: "DRIFT", subjects: ["drift.a"] });
    const make = (update: boolean) => {
      const stream = defineStream({ name: "DRIFT", subjects: ["drift.>"], update });
      @Controller()
      class Drifted {
        @Consume("drift.a", { stream, durable: "drifted" })
        handle() {}
      }
      return Drifted;
    };
    const app = await NatsApp.create({ servers: server.url, controllers: [make(false)], logger: captureLogs("warn").logger });
    apps.push(app);
    const failed = await app.start().then(() => undefined, (e: unknown) => e);
    expect(failed).toBeInstanceOf(SetupError);
    expect((failed as SetupError).setting).toBe("stream DRIFT subjects");
    expect((await jsm.streams.info("DRIFT")).config.subjects).toEqual(["drift.a"]);
    await startApp(make(true));
    expect((await jsm.streams.info("DRIFT")).config.subjects).toEqual(["drift.>"]);
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
