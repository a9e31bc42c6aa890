/**
 * `@Consume`, streams and `@Publish` to a stream, run against the in-memory TestBroker and against a
 * real nats-server with JetStream (jetstream.memory.test.ts, jetstream.server.test.ts), so the two
 * cannot drift. Timings are short so the memory run takes seconds.
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
  Msg,
  NatsApp,
  Payload,
  Publish,
  PubAckError,
  SetupError,
  Subscribe,
  Use,
  type AckMode,
  type Constructor,
  type InboundMessage,
  type JetStreamDelivery,
  type JetStreamMessage,
  type Middleware,
  type NatsAppOptions,
  type StartAt,
  type Transport,
} from "@natsflow/core";
import { captureLogs, type ConsumerState } from "@natsflow/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";

export interface JetStreamEnvironment {
  /** Connection settings for an app under test (servers, or an in-memory transport). */
  appOptions(): Partial<NatsAppOptions>;
  /** A plain client connection. */
  client(): Promise<Transport>;
  /** What the server's consumer info says about the durable's progress. */
  consumerState(stream: string, durable: string): Promise<ConsumerState>;
  /** How many messages the stream holds. */
  stored(stream: string): Promise<number>;
  /** The stream's last message on `subject`. */
  lastMessage(stream: string, subject: string): Promise<{ data: Uint8Array; header(name: string): string | undefined }>;
  deleteStream(name: string): Promise<void>;
  stop(): Promise<void>;
}

const enc = new TextEncoder();
const dec = new TextDecoder();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** Every message a plain subscriber on `client` sees on `subject`. */
export function collectOn(client: Transport, subject: string): InboundMessage[] {
  const got: InboundMessage[] = [];
  client.subscribe(subject, {}, (m) => got.push(m));
  return got;
}

/** Whether the durable has nothing pending and nothing unacked. */
export const settledOn = (env: Pick<JetStreamEnvironment, "consumerState">, stream: string, durable: string) => async (): Promise<boolean> => {
  const s = await env.consumerState(stream, durable);
  return s.numPending === 0 && s.numAckPending === 0;
};

export function jetstreamSuite(name: string, setup: () => Promise<JetStreamEnvironment>): void {
  describe(`JetStream on ${name}`, () => {
    let env: JetStreamEnvironment;
    let client: Transport;
    const apps: NatsApp[] = [];

    beforeAll(async () => {
      env = await setup();
      client = await env.client();
    });
    afterAll(async () => {
      await Promise.all(apps.map((a) => a.stop()));
      await client?.close();
      await env?.stop();
    });

    const create = async (controllers: Constructor[], options: Partial<NatsAppOptions> = {}) => {
      const app = await NatsApp.create({ ...env.appOptions(), controllers, logger: captureLogs("warn").logger, shutdownTimeoutMs: 5_000, ...options });
      apps.push(app);
      return app;
    };
    const startWith = async (controllers: Constructor[], options: Partial<NatsAppOptions> = {}) => {
      const app = await create(controllers, options);
      await app.start();
      return app;
    };
    const startApp = (...controllers: Constructor[]) => startWith(controllers);
    const collect = (subject: string) => collectOn(client, subject);
    const settledAll = (stream: string, durable: string) => settledOn(env, stream, durable);

    it("retries a failing message after the backoff delays, then acks it: 3 deliveries, nothing pending", async () => {
      const stream = defineStream({ name: "S_RETRY", subjects: ["s-retry.>"] });
      const times: number[] = [];
      const deliveries: number[] = [];
      @Controller()
      class Flaky {
        @Consume("s-retry.created", { stream, durable: "flaky", ackWait: "1s", retry: { backoffMs: [100, 300], maxDeliver: 5 } })
        handle(@Payload() _order: unknown, @Delivery() d: JetStreamDelivery) {
          times.push(Date.now());
          deliveries.push(d.deliveries);
          if (times.length <= 2) throw new Error("not yet");
        }
      }
      const app = await startApp(Flaky);
      const ack = await app.broker.jetstream.publish("s-retry.created", { id: "1" });
      expect(ack).toMatchObject({ stream: "S_RETRY", seq: 1, duplicate: false });
      await waitFor("3 deliveries", () => times.length >= 3);
      await waitFor("the ack", settledAll("S_RETRY", "flaky"));
      await sleep(300);
      expect(deliveries).toEqual([1, 2, 3]);
      const gaps = [times[1]! - times[0]!, times[2]! - times[1]!];
      expect(gaps[0]).toBeGreaterThanOrEqual(90);
      expect(gaps[1]).toBeGreaterThanOrEqual(270);
      expect(await env.consumerState("S_RETRY", "flaky")).toMatchObject({ numAckPending: 0, numPending: 0, ackFloor: 1 });
    });

    it("terminates an invalid payload at once and dead-letters it once with the reason, never redelivered", async () => {
      const stream = defineStream({ name: "S_INVALID", subjects: ["s-invalid.>"] });
      let handled = 0;
      @Controller()
      class Strict {
        @Consume("s-invalid.orders", {
          stream,
          durable: "strict",
          schema: z.object({ id: z.string() }),
          ackWait: "1s",
          retry: { backoffMs: [100], maxDeliver: 4 },
          deadLetter: "s-invalid-dlq.orders",
        })
        handle(@Payload() _order: { id: string }) {
          handled++;
        }
      }
      const dlq = collect("s-invalid-dlq.orders");
      const app = await startApp(Strict);
      await app.broker.jetstream.publish("s-invalid.orders", { id: 5 }, { headers: { "X-Trace": "t-1" } });
      await waitFor("the dead letter", () => dlq.length >= 1);
      await sleep(1_300); // past ack wait and backoff: a redelivery would have shown by now
      expect(handled).toBe(0);
      expect(dlq).toHaveLength(1);
      const h = dlq[0]!.headers!;
      expect(h.get(DEAD_LETTER_STREAM_HEADER)).toBe("S_INVALID");
      expect(h.get(DEAD_LETTER_SEQUENCE_HEADER)).toBe("1");
      expect(h.get(DEAD_LETTER_DELIVERIES_HEADER)).toBe("1");
      expect(h.get(DEAD_LETTER_ERROR_HEADER)).toMatch(/^ValidationError: invalid payload: id:/);
      expect(h.get("X-Trace")).toBe("t-1");
      expect(JSON.parse(dec.decode(dlq[0]!.data))).toEqual({ id: 5 });
      expect(await env.consumerState("S_INVALID", "strict")).toMatchObject({ numAckPending: 0, numPending: 0, numRedelivered: 0 });
      const term = (await app.metrics.jetstream.get()).values.find((v) => v.labels.outcome === "term");
      expect(term?.value).toBe(1);
    });

    it("dead-letters a message that fails maxDeliver times, once, and stops delivering it", async () => {
      const stream = defineStream({ name: "S_POISON", subjects: ["s-poison.>"] });
      const deliveries: number[] = [];
      @Controller()
      class Broken {
        @Consume("s-poison.jobs", { stream, durable: "broken", codec: "bytes", ackWait: "1s", retry: { backoffMs: [50], maxDeliver: 3 }, deadLetter: "s-poison-dlq" })
        handle(@Delivery() d: JetStreamDelivery) {
          deliveries.push(d.deliveries);
          throw new Error("database down");
        }
      }
      const dlq = collect("s-poison-dlq");
      await startApp(Broken);
      await client.jetstream().publish("s-poison.jobs", enc.encode("job"));
      await waitFor("the dead letter", () => dlq.length >= 1);
      await sleep(1_300);
      expect(deliveries).toEqual([1, 2, 3]);
      expect(dlq).toHaveLength(1);
      expect(dlq[0]!.headers!.get(DEAD_LETTER_DELIVERIES_HEADER)).toBe("3");
      expect(dlq[0]!.headers!.get(DEAD_LETTER_ERROR_HEADER)).toBe("Error: database down");
      expect(await env.consumerState("S_POISON", "broken")).toMatchObject({ numAckPending: 0, numPending: 0 });
    });

    it("never has more messages out than concurrency: at most 2 running and acked-pending with 100 queued, each handled once", async () => {
      const stream = defineStream({ name: "S_FLOW", subjects: ["s-flow.>"] });
      const js = client.jetstream();
      await js.addStream({ name: "S_FLOW", subjects: ["s-flow.>"], retention: "limits", storage: "file", maxAgeMs: 0, duplicateWindowMs: 120_000, maxMsgs: -1, maxBytes: -1, replicas: 1 });
      for (let i = 0; i < 100; i++) await js.publish("s-flow.items", enc.encode(String(i)));
      const handled = new Map<number, number>();
      let running = 0;
      let maxRunning = 0;
      @Controller()
      class Slow {
        @Consume("s-flow.items", { stream, durable: "slow", concurrency: 2 })
        async handle(@Delivery() d: JetStreamDelivery) {
          maxRunning = Math.max(maxRunning, ++running);
          await sleep(10);
          handled.set(d.sequence, (handled.get(d.sequence) ?? 0) + 1);
          running--;
        }
      }
      await startApp(Slow);
      let maxAckPending = 0;
      while (handled.size < 100) {
        maxAckPending = Math.max(maxAckPending, (await env.consumerState("S_FLOW", "slow")).numAckPending);
        await sleep(5);
      }
      await waitFor("the last ack", settledAll("S_FLOW", "slow"));
      expect(maxAckPending).toBeGreaterThanOrEqual(1);
      expect(maxAckPending).toBeLessThanOrEqual(2);
      expect(maxRunning).toBeLessThanOrEqual(2);
      expect(handled.size).toBe(100);
      expect([...handled.values()].every((n) => n === 1)).toBe(true);
    });

    const earlyAckers: Array<[string, { push?: true; ack?: AckMode }]> = [
      ["pull, after-success", {}],
      ["pull, manual", { ack: "manual" }],
      ["pull, ack-first", { ack: "ack-first" }],
      ["push, after-success", { push: true }],
      ["push, manual", { push: true, ack: "manual" }],
    ];
    it.each(earlyAckers.map(([mode, options], i) => [mode, options, i] as const))(
      "concurrency 5 holds when the handler acks first and then works (%s): at most 5 running over 300 messages, each once",
      async (_mode, options, i) => {
        const name = `S_EARLY${i}`;
        const stream = defineStream({ name, subjects: [`s-early${i}.>`] });
        await client.jetstream().addStream({ name, subjects: [`s-early${i}.>`], retention: "limits", storage: "file", maxAgeMs: 0, duplicateWindowMs: 120_000, maxMsgs: -1, maxBytes: -1, replicas: 1 });
        for (let n = 0; n < 300; n++) await client.jetstream().publish(`s-early${i}.items`, enc.encode(String(n)));
        const handled = new Map<number, number>();
        let running = 0;
        let maxRunning = 0;
        @Controller()
        class EarlyAck {
          @Consume(`s-early${i}.items`, { stream, durable: "early", concurrency: 5, ...options })
          async handle(@Delivery() d: JetStreamDelivery) {
            maxRunning = Math.max(maxRunning, ++running);
            // Frees the server's slot at once (ack-first: already free).
            if (!d.settled) d.ack();
            await sleep(5);
            handled.set(d.sequence, (handled.get(d.sequence) ?? 0) + 1);
            running--;
          }
        }
        await startApp(EarlyAck);
        await waitFor("300 handled", () => handled.size === 300, 30_000);
        await waitFor("nothing pending", settledAll(name, "early"));
        expect(maxRunning).toBeGreaterThanOrEqual(2);
        expect(maxRunning).toBeLessThanOrEqual(5);
        expect([...handled.values()].every((n) => n === 1)).toBe(true);
      },
    );

    it("a message waiting for a slot behind a handler that acked early keeps its ack wait alive: delivered once", async () => {
      const stream = defineStream({ name: "S_WAITING", subjects: ["s-waiting.>"] });
      const deliveries: number[] = [];
      let done = 0;
      @Controller()
      class Lingers {
        @Consume("s-waiting.x", { stream, durable: "lingers", concurrency: 1, ackWait: "1s" })
        async handle(@Delivery() d: JetStreamDelivery) {
          deliveries.push(d.deliveries);
          d.ack();
          await sleep(2_200);
          done++;
        }
      }
      const app = await startApp(Lingers);
      await app.broker.jetstream.publish("s-waiting.x", {});
      await app.broker.jetstream.publish("s-waiting.x", {});
      // A redelivered copy would wait behind the second, so both must be over first.
      await waitFor("both handled", () => done === 2, 10_000);
      await waitFor("nothing pending", settledAll("S_WAITING", "lingers"));
      await sleep(100);
      expect(deliveries).toEqual([1, 1]);
      expect((await env.consumerState("S_WAITING", "lingers")).numRedelivered).toBe(0);
    });

    it("stores one msgId once, reports the duplicate, and refuses failed expectations and unstored subjects", async () => {
      const stream = defineStream({ name: "S_DEDUP", subjects: ["s-dedup.>"], duplicateWindow: "1m" });
      @Controller()
      class Sink {
        @Consume("s-dedup.events", { stream, durable: "sink" })
        handle() {}
      }
      const app = await startApp(Sink);
      const a = await app.broker.jetstream.publish("s-dedup.events", { n: 1 }, { msgId: "order-1" });
      const b = await app.broker.jetstream.publish("s-dedup.events", { n: 1 }, { msgId: "order-1" });
      expect(a).toEqual({ stream: "S_DEDUP", seq: 1, duplicate: false });
      expect(b).toEqual({ stream: "S_DEDUP", seq: 1, duplicate: true });
      expect(await env.stored("S_DEDUP")).toBe(1);
      await expect(app.broker.jetstream.publish("s-dedup.events", "x", { expect: { lastSequence: 7 } })).rejects.toBeInstanceOf(PubAckError);
      await expect(app.broker.jetstream.publish("s-dedup.events", "x", { expect: { stream: "ELSEWHERE" } })).rejects.toBeInstanceOf(PubAckError);
      expect((await app.broker.jetstream.publish("s-dedup.events", "x", { expect: { lastSequence: 1, stream: "S_DEDUP" } })).seq).toBe(2);
      await expect(app.broker.jetstream.publish("s-nobody.stores.this", "x")).rejects.toThrow(/no stream captures/);
    });

    it("fails start on a stream whose config drifted, naming the field; update: true updates it", async () => {
      const js = client.jetstream();
      await js.addStream({ name: "S_DRIFT", subjects: ["s-drift.a"], retention: "limits", storage: "file", maxAgeMs: 0, duplicateWindowMs: 120_000, maxMsgs: -1, maxBytes: -1, replicas: 1 });
      const make = (update: boolean) => {
        const stream = defineStream({ name: "S_DRIFT", subjects: ["s-drift.>"], update });
        @Controller()
        class Drifted {
          @Consume("s-drift.a", { stream, durable: "drifted" })
          handle() {}
        }
        return Drifted;
      };
      const app = await create([make(false)]);
      const failed = await app.start().then(() => undefined, (e: unknown) => e);
      expect(failed).toBeInstanceOf(SetupError);
      expect((failed as SetupError).setting).toBe("stream S_DRIFT subjects");
      expect((await js.streamInfo("S_DRIFT"))?.subjects).toEqual(["s-drift.a"]);
      await startApp(make(true));
      expect((await js.streamInfo("S_DRIFT"))?.subjects).toEqual(["s-drift.>"]);
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
      await waitFor("the acks of the first app", async () => (await env.consumerState("SHUTDOWN", "worker")).ackFloor === lastStarted);
      expect((await env.consumerState("SHUTDOWN", "worker")).numAckPending).toBe(0);
      const logs = captureLogs("info");
      await startWith([Worker], { logger: logs.logger });
      expect(logs.find(/consumer (created|updated)/)).toHaveLength(0);
      await waitFor("every message", () => new Set(finished).size >= 20, 15_000);
      await sleep(300);
      const counts = new Map<number, number>();
      for (const s of started) counts.set(s, (counts.get(s) ?? 0) + 1);
      console.log(`shutdown: ${firstStarted.length} handled before stop, ${started.length - firstStarted.length} after restart`);
      expect([...counts.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      expect([...counts.values()].every((n) => n === 1)).toBe(true);
    });

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
      await waitFor("the ack", async () => (await env.consumerState("LONG", "long")).ackFloor === 1, 8_000);
      expect(deliveries).toEqual([1]);
      expect((await env.consumerState("LONG", "long")).numRedelivered).toBe(0);
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
      const app = await startWith([Manual], { providers: [Ledger], middleware: [app1] });
      await app.broker.jetstream.publish("manual.x", { n: 7 });
      await waitFor("the ack", async () => (await env.consumerState("MANUAL", "manual")).ackFloor === 1);
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
      expect((await env.consumerState("FIRST", "first")).numAckPending).toBe(0);
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
      await startWith([make("3s")], { logger: logs.logger });
      expect(logs.find(/consumer updated/)[0]).toMatchObject({ changed: ["ackWait"] });
      expect(await client.jetstream().consumerInfo("REDEF", "redef")).toMatchObject({ ackWaitMs: 3_000, maxAckPending: 3 });
    });

    it("fails start when bind: true names a consumer that does not exist", async () => {
      const stream = defineStream({ name: "BOUND", subjects: ["bound.>"] });
      @Controller()
      class Bound {
        @Consume("bound.x", { stream, durable: "nobody", bind: true })
        handle() {}
      }
      const app = await create([Bound]);
      await expect(app.start()).rejects.toMatchObject({ name: "SetupError", setting: "Bound.handle durable" });
    });

    const addStream = (name: string, subjects: string[]) =>
      client.jetstream().addStream({ name, subjects, retention: "limits", storage: "file", maxAgeMs: 0, duplicateWindowMs: 120_000, maxMsgs: -1, maxBytes: -1, replicas: 1 });

    it("push: true — instances share the durable's deliver group; at most concurrency out; failures retried; each handled once", async () => {
      const stream = defineStream({ name: "S_PUSH", subjects: ["s-push.>"] });
      const handled = new Map<number, number>();
      let running = 0;
      let maxRunning = 0;
      let calls = 0;
      const make = () => {
        @Controller()
        class Pushed {
          @Consume("s-push.items", { stream, durable: "pushed", push: true, concurrency: 2, ackWait: "2s", retry: { backoffMs: [50], maxDeliver: 3 } })
          async handle(@Delivery() d: JetStreamDelivery) {
            calls++;
            maxRunning = Math.max(maxRunning, ++running);
            await sleep(5);
            running--;
            if (d.sequence % 10 === 0 && d.deliveries === 1) throw new Error("first time fails");
            handled.set(d.sequence, (handled.get(d.sequence) ?? 0) + 1);
          }
        }
        return Pushed;
      };
      await startApp(make());
      await startApp(make());
      expect((await client.jetstream().consumerInfo("S_PUSH", "pushed"))?.push).toEqual({ deliverSubject: "_nf.push.S_PUSH.pushed", deliverGroup: "pushed" });
      for (let i = 0; i < 60; i++) await client.jetstream().publish("s-push.items", enc.encode(String(i)));
      let maxAckPending = 0;
      while (handled.size < 60) {
        maxAckPending = Math.max(maxAckPending, (await env.consumerState("S_PUSH", "pushed")).numAckPending);
        await sleep(5);
      }
      await waitFor("the last ack", settledAll("S_PUSH", "pushed"));
      // One durable, one max_ack_pending: 2 out across both instances.
      expect(maxAckPending).toBeLessThanOrEqual(2);
      expect(maxRunning).toBeLessThanOrEqual(2);
      expect([...handled.values()].every((n) => n === 1)).toBe(true);
      expect(calls).toBe(66);
    });

    it("bind: true consumes an existing push consumer as push; one allowing more unacked than concurrency fails start", async () => {
      const stream = defineStream({ name: "S_BINDPUSH", subjects: ["s-bindpush.>"] });
      await addStream("S_BINDPUSH", ["s-bindpush.>"]);
      await client.jetstream().addConsumer({
        stream: "S_BINDPUSH",
        durable: "ops",
        filterSubject: "s-bindpush.x",
        ackWaitMs: 5_000,
        maxDeliver: -1,
        backoffMs: [],
        maxAckPending: 4,
        push: { deliverSubject: "ops.deliver", deliverGroup: "ops" },
      });
      const got: unknown[] = [];
      @Controller()
      class Bound {
        @Consume("s-bindpush.x", { stream, durable: "ops", bind: true, concurrency: 4 })
        handle(@Payload() p: unknown) {
          got.push(p);
        }
      }
      @Controller()
      class TooFew {
        @Consume("s-bindpush.x", { stream, durable: "ops", bind: true, concurrency: 2 })
        handle() {}
      }
      const failed = await create([TooFew]).then((a) => a.start()).then(() => undefined, (e: unknown) => e);
      expect(failed).toBeInstanceOf(SetupError);
      expect(failed).toMatchObject({ setting: "TooFew.handle durable", message: expect.stringMatching(/allows 4 unacked messages.*max_ack_pending/) });
      await startApp(Bound);
      for (const n of [1, 2, 3]) await client.jetstream().publish("s-bindpush.x", enc.encode(JSON.stringify({ n })));
      await waitFor("3 messages", () => got.length === 3);
      await waitFor("the acks", settledAll("S_BINDPUSH", "ops"));
      expect(got).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
    });

    it("a pull durable cannot become push: start fails naming the durable and the fix", async () => {
      const stream = defineStream({ name: "S_KIND", subjects: ["s-kind.>"] });
      const make = (push: boolean) => {
        @Controller()
        class Kind {
          @Consume("s-kind.x", { stream, durable: "kind", push })
          handle() {}
        }
        return Kind;
      };
      await (await startApp(make(false))).stop();
      const failed = await create([make(true)]).then((a) => a.start()).then(() => undefined, (e: unknown) => e);
      expect(failed).toMatchObject({ name: "SetupError", setting: "Kind.handle durable", message: expect.stringMatching(/is a pull consumer; the handler wants push.*new durable name/) });
    });

    it("ordered: every app reads the stream whole, in order, from where startAt says; a failure is dead-lettered and passed", async () => {
      const stream = defineStream({ name: "S_ORDERED", subjects: ["s-ordered.>"] });
      await addStream("S_ORDERED", ["s-ordered.>"]);
      // 1..5 alternate between two subjects: a, b, a, b, a.
      for (let i = 1; i <= 5; i++) await client.jetstream().publish(`s-ordered.${i % 2 === 1 ? "a" : "b"}`, enc.encode(String(i)));
      const seen: Record<string, number[]> = {};
      const make = (label: string, startAt?: StartAt) => {
        @Controller()
        class View {
          @Consume("s-ordered.>", { stream, ordered: true, deadLetter: `s-ordered-dlq`, ...(startAt ? { startAt } : {}) })
          async handle(@Msg() m: JetStreamMessage) {
            await sleep(Math.random() * 5);
            (seen[label] ??= []).push(m.sequence);
            if (m.sequence === 3) throw new Error("bad projection input");
          }
        }
        return View;
      };
      const dlq = collect("s-ordered-dlq");
      const variants = { first: undefined, again: undefined, fromFour: { sequence: 4 }, lastPerSubject: "last-per-subject", last: "last", new: "new" } as const;
      for (const [label, startAt] of Object.entries(variants)) await startApp(make(label, startAt));
      await sleep(200);
      for (const i of [6, 7]) await client.jetstream().publish("s-ordered.c", enc.encode(String(i)));
      await waitFor("every view up to 7", () => Object.keys(variants).every((k) => seen[k]?.at(-1) === 7));
      expect(seen).toEqual({
        first: [1, 2, 3, 4, 5, 6, 7],
        again: [1, 2, 3, 4, 5, 6, 7],
        fromFour: [4, 5, 6, 7],
        lastPerSubject: [4, 5, 6, 7],
        last: [5, 6, 7],
        new: [6, 7],
      });
      await waitFor("the dead letters", () => dlq.length === 2);
      expect(dlq.map((m) => m.headers?.get(DEAD_LETTER_SEQUENCE_HEADER))).toEqual(["3", "3"]);
    });

    interface Order {
      id: string;
      item: string;
    }
    const ask = async (subject: string, body: unknown) => client.request(subject, enc.encode(JSON.stringify(body)), { timeoutMs: 5_000 });

    it("@Publish with a stream replies only after the event is stored; the same msgId is stored once", async () => {
      const EVENTS = defineStream({ name: "S_PUB", subjects: ["s-pub.events.>"] });
      @Controller("s-pub")
      class Orders {
        @Subscribe("create")
        @Publish("s-pub.events.created", { stream: EVENTS, msgId: (order: Order) => order.id, headers: { "X-Source": "orders" } })
        create(@Payload() order: Order) {
          return order;
        }
      }
      await startApp(Orders);
      const reply = await ask("s-pub.create", { id: "o-1", item: "cake" });
      expect(JSON.parse(dec.decode(reply.data))).toEqual({ id: "o-1", item: "cake" });
      // By the time the reply arrived, the event was in the stream.
      expect(await env.stored("S_PUB")).toBe(1);
      const event = await env.lastMessage("S_PUB", "s-pub.events.created");
      expect(JSON.parse(dec.decode(event.data))).toEqual({ id: "o-1", item: "cake" });
      expect(event.header("Nats-Msg-Id")).toBe("o-1");
      expect(event.header("X-Source")).toBe("orders");
      // A retried request with the same order: answered again, stored once.
      await ask("s-pub.create", { id: "o-1", item: "cake" });
      expect(await env.stored("S_PUB")).toBe(1);
      await ask("s-pub.create", { id: "o-2", item: "pie" });
      expect(await env.stored("S_PUB")).toBe(2);
    });

    it("@Publish with a stream answers 503 when the event cannot be stored", async () => {
      const GONE = defineStream({ name: "S_GONE", subjects: ["s-gone.events.>"] });
      @Controller("s-gone")
      class Fragile {
        @Subscribe("create")
        @Publish("s-gone.events.created", { stream: GONE })
        create(@Payload() order: Order) {
          return order;
        }
      }
      await startApp(Fragile);
      await env.deleteStream("S_GONE");
      const reply = await ask("s-gone.create", { id: "g-1", item: "x" });
      expect(reply.headers?.get("Nats-Service-Error-Code")).toBe("503");
      expect(dec.decode(reply.data)).toMatch(/event not stored in stream S_GONE/);
    });
  });
}
