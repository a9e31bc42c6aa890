/**
 * Batch consumers (`@Consume` with `batch`), run against the in-memory TestBroker and a real
 * nats-server (batch.memory.test.ts, batch.server.test.ts): bulk inserts into PGlite, batches of at
 * most `max`, per-message settling of a partly failing batch, dead letters for invalid messages.
 */
import "reflect-metadata";

import { PGlite } from "@electric-sql/pglite";
import {
  Consume,
  Controller,
  DEAD_LETTER_ERROR_HEADER,
  defineStream,
  Delivery,
  NatsApp,
  Payload,
  type BatchOutcome,
  type Constructor,
  type JetStreamBatch,
  type Transport,
} from "@natsflow/core";
import { captureLogs } from "@natsflow/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";

import { collectOn, settledOn, waitFor, type JetStreamEnvironment } from "./jetstream-suite.js";

export type BatchEnvironment = Pick<JetStreamEnvironment, "appOptions" | "client" | "consumerState" | "stop">;

const enc = new TextEncoder();
const dec = new TextDecoder();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const Order = z.object({ id: z.number().int(), item: z.string() });
type Order = z.infer<typeof Order>;

/** One multi-row INSERT for a whole batch: the shape batch consumers are for. */
async function insertAll(db: PGlite, table: string, orders: readonly Order[]): Promise<void> {
  if (orders.length === 0) return;
  const values = orders.map((_, i) => `($${2 * i + 1}, $${2 * i + 2})`).join(", ");
  await db.query(`INSERT INTO ${table} (id, item) VALUES ${values}`, orders.flatMap((o) => [o.id, o.item]));
}

export function batchSuite(name: string, setup: () => Promise<BatchEnvironment>): void {
  describe(`batch consumers on ${name}`, () => {
    let env: BatchEnvironment;
    let client: Transport;
    let db: PGlite;
    const apps: NatsApp[] = [];

    beforeAll(async () => {
      env = await setup();
      client = await env.client();
      db = new PGlite();
      await db.waitReady;
    });
    afterAll(async () => {
      await Promise.all(apps.map((a) => a.stop()));
      await client?.close();
      await db?.close();
      await env?.stop();
    });

    const startApp = async (...controllers: Constructor[]) => {
      const app = await NatsApp.create({ ...env.appOptions(), controllers, logger: captureLogs("warn").logger, shutdownTimeoutMs: 5_000 });
      apps.push(app);
      await app.start();
      return app;
    };
    const table = async (name: string) => {
      // A primary key: a row inserted twice fails the test's batch, so "each once" is checked by the database too.
      await db.exec(`CREATE TABLE ${name} (id integer PRIMARY KEY, item text NOT NULL)`);
      return async () => (await db.query<{ id: number }>(`SELECT id FROM ${name} ORDER BY id`)).rows.map((r) => r.id);
    };
    const publish = async (subject: string, payloads: ReadonlyArray<string>) => {
      for (const p of payloads) await client.jetstream().publish(subject, enc.encode(p));
    };
    const orders = (from: number, n: number) => Array.from({ length: n }, (_, i) => JSON.stringify({ id: from + i, item: `item-${from + i}` }));
    const collect = (subject: string) => collectOn(client, subject);
    const settledAll = (stream: string, durable: string) => settledOn(env, stream, durable);

    it("bulk-inserts batches of at most max into PGlite, each order once, every message acked and counted", async () => {
      const stream = defineStream({ name: "B_INSERT", subjects: ["b-insert.>"] });
      const rows = await table("b_insert");
      const sizes: number[] = [];
      @Controller()
      class Importer {
        @Consume("b-insert.orders", { stream, durable: "importer", schema: Order, batch: { max: 40 } })
        async handle(@Payload() batch: Order[]) {
          sizes.push(batch.length);
          await insertAll(db, "b_insert", batch);
        }
      }
      // Published before the consumer starts, so full batches are there to pull.
      await client.jetstream().addStream({ name: "B_INSERT", subjects: ["b-insert.>"], retention: "limits", storage: "file", maxAgeMs: 0, duplicateWindowMs: 120_000, maxMsgs: -1, maxBytes: -1, replicas: 1 });
      await publish("b-insert.orders", orders(1, 230));
      const app = await startApp(Importer);
      await waitFor("230 rows", async () => (await rows()).length === 230);
      await waitFor("every ack", settledAll("B_INSERT", "importer"));
      expect(await rows()).toEqual(Array.from({ length: 230 }, (_, i) => i + 1));
      expect(Math.max(...sizes)).toBe(40);
      expect(sizes.reduce((a, b) => a + b, 0)).toBe(230);
      expect((await env.consumerState("B_INSERT", "importer")).numRedelivered).toBe(0);
      const acks = (await app.metrics.jetstream.get()).values.find((v) => v.labels.outcome === "ack");
      expect(acks?.value).toBe(230);
      const batches = (await app.metrics.batchSize.get()).values.find((v) => v.metricName === "natsflow_jetstream_batch_size_count");
      expect(batches?.value).toBe(sizes.length);
    });

    it("bind: a durable allowing more unacked messages than (concurrency + 1) × max fails start, naming the fix", async () => {
      const stream = defineStream({ name: "B_BIND", subjects: ["b-bind.>"] });
      await client.jetstream().addStream({ name: "B_BIND", subjects: ["b-bind.>"], retention: "limits", storage: "file", maxAgeMs: 0, duplicateWindowMs: 120_000, maxMsgs: -1, maxBytes: -1, replicas: 1 });
      await client.jetstream().addConsumer({ stream: "B_BIND", durable: "ops", filterSubject: "b-bind.x", ackWaitMs: 5_000, maxDeliver: -1, backoffMs: [], maxAckPending: 1_000 });
      @Controller()
      class Bound {
        @Consume("b-bind.x", { stream, durable: "ops", bind: true, batch: { max: 10 } })
        handle() {}
      }
      const app = await NatsApp.create({ ...env.appOptions(), controllers: [Bound], logger: captureLogs("warn").logger });
      apps.push(app);
      await expect(app.start()).rejects.toMatchObject({ name: "SetupError", setting: "Bound.handle durable", message: expect.stringMatching(/allows 1000 unacked.*at most 20/) });
    });

    it("stop() lets the running batch finish and settle; what gathered meanwhile goes to the next start, each order once", async () => {
      const stream = defineStream({ name: "B_STOP", subjects: ["b-stop.>"] });
      const handled = new Map<number, number>();
      let started!: () => void;
      const running = new Promise<void>((resolve) => (started = resolve));
      const make = () => {
        @Controller()
        class Slow {
          @Consume("b-stop.orders", { stream, durable: "slow", schema: Order, batch: { max: 10 } })
          async handle(@Payload() batch: Order[]) {
            started();
            await sleep(500);
            for (const o of batch) handled.set(o.id, (handled.get(o.id) ?? 0) + 1);
          }
        }
        return Slow;
      };
      await client.jetstream().addStream({ name: "B_STOP", subjects: ["b-stop.>"], retention: "limits", storage: "file", maxAgeMs: 0, duplicateWindowMs: 120_000, maxMsgs: -1, maxBytes: -1, replicas: 1 });
      await publish("b-stop.orders", orders(1, 25));
      const first = await startApp(make());
      await running;
      await first.stop();
      // The running batch of 10 was acked; the next 10 had gathered and were nak'ed, not handled.
      expect(handled.size).toBe(10);
      await startApp(make());
      await waitFor("all 25 handled", () => handled.size === 25);
      await waitFor("every ack", settledAll("B_STOP", "slow"));
      expect([...handled.values()].every((n) => n === 1)).toBe(true);
    });

    it("maxBytes cuts a batch before a message would take its payloads past it; a larger message goes alone", async () => {
      const stream = defineStream({ name: "B_BYTES", subjects: ["b-bytes.>"] });
      const sizes: number[][] = [];
      @Controller()
      class Sized {
        @Consume("b-bytes.x", { stream, durable: "sized", codec: "bytes", batch: { max: 10, maxBytes: 25 } })
        handle(@Payload() batch: Uint8Array[]) {
          sizes.push(batch.map((b) => b.length));
        }
      }
      await client.jetstream().addStream({ name: "B_BYTES", subjects: ["b-bytes.>"], retention: "limits", storage: "file", maxAgeMs: 0, duplicateWindowMs: 120_000, maxMsgs: -1, maxBytes: -1, replicas: 1 });
      await publish("b-bytes.x", ["a".repeat(10), "b".repeat(10), "c".repeat(10), "d".repeat(40), "e".repeat(5)]);
      await startApp(Sized);
      await waitFor("every ack", async () => sizes.flat().length === 5 && (await settledAll("B_BYTES", "sized")()));
      expect(sizes).toEqual([[10, 10], [10], [40], [5]]);
    });

    it("a partly failing batch is settled per message: the failed ones are redelivered, the others not", async () => {
      const stream = defineStream({ name: "B_PARTIAL", subjects: ["b-partial.>"] });
      const rows = await table("b_partial");
      const seen = new Map<number, number>();
      @Controller()
      class Partial {
        @Consume("b-partial.orders", { stream, durable: "partial", schema: Order, batch: { max: 25 }, retry: { backoffMs: [50], maxDeliver: 3 } })
        async handle(@Payload() batch: Order[]): Promise<BatchOutcome[]> {
          for (const o of batch) seen.set(o.id, (seen.get(o.id) ?? 0) + 1);
          // Every 7th order fails the first time it is seen.
          const outcomes = batch.map((o): BatchOutcome => (o.id % 7 === 0 && seen.get(o.id) === 1 ? new Error(`order ${o.id} not yet`) : "ack"));
          await insertAll(db, "b_partial", batch.filter((_, i) => outcomes[i] === "ack"));
          return outcomes;
        }
      }
      await startApp(Partial);
      await publish("b-partial.orders", orders(1, 100));
      await waitFor("100 rows", async () => (await rows()).length === 100);
      await waitFor("every ack", settledAll("B_PARTIAL", "partial"));
      await sleep(200);
      expect(await rows()).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
      for (const [id, n] of seen) expect([id, n]).toEqual([id, id % 7 === 0 ? 2 : 1]);
      expect(seen.size).toBe(100);
    });

    it("manual: the handler settles messages one by one through the batch; those it leaves are nak'ed", async () => {
      const stream = defineStream({ name: "B_MANUAL", subjects: ["b-manual.>"] });
      const deliveries = new Map<number, number[]>();
      @Controller()
      class Manual {
        @Consume("b-manual.orders", { stream, durable: "manual", schema: Order, ack: "manual", batch: { max: 10 }, retry: { backoffMs: [50], maxDeliver: 3 } })
        handle(@Payload() batch: Order[], @Delivery() delivery: JetStreamBatch<Order>) {
          expect(delivery.items.map((i) => i.payload)).toEqual(batch);
          for (const { payload, message, delivery: d } of delivery.items) {
            expect(JSON.parse(dec.decode(message.data))).toEqual(payload);
            deliveries.set(payload.id, [...(deliveries.get(payload.id) ?? []), d.deliveries]);
            // Even ids acked; odd ones nak'ed by hand the first time; 5 left unsettled the first time.
            if (payload.id === 5 && d.deliveries === 1) continue;
            if (payload.id % 2 === 1 && d.deliveries === 1) d.nak(50);
            else d.ack();
          }
        }
      }
      await startApp(Manual);
      await publish("b-manual.orders", orders(1, 10));
      const expected = (id: number) => (id % 2 === 1 ? [1, 2] : [1]);
      await waitFor("the odd ones redelivered", () => [...Array(10).keys()].every((i) => deliveries.get(i + 1)?.length === expected(i + 1).length));
      await waitFor("every ack", settledAll("B_MANUAL", "manual"));
      await sleep(200);
      for (let id = 1; id <= 10; id++) expect(deliveries.get(id)).toEqual(expected(id));
    });

    it("dead-letters invalid messages on their own, never passing them; a throw naks the whole batch until maxDeliver", async () => {
      const stream = defineStream({ name: "B_INVALID", subjects: ["b-invalid.>"] });
      const rows = await table("b_invalid");
      const dlq = collect("b-invalid-dlq");
      const passed: unknown[] = [];
      let throws = 0;
      @Controller()
      class Strict {
        @Consume("b-invalid.orders", { stream, durable: "strict", schema: Order, maxPayloadBytes: 200, batch: { max: 20 }, deadLetter: "b-invalid-dlq", retry: { backoffMs: [50], maxDeliver: 2 } })
        async handle(@Payload() batch: Order[]) {
          passed.push(...batch);
          if (batch.some((o) => o.item.startsWith("poison"))) {
            throws++;
            throw new Error("the database refused the batch");
          }
          await insertAll(db, "b_invalid", batch);
        }
      }
      await client.jetstream().addStream({ name: "B_INVALID", subjects: ["b-invalid.>"], retention: "limits", storage: "file", maxAgeMs: 0, duplicateWindowMs: 120_000, maxMsgs: -1, maxBytes: -1, replicas: 1 });
      const good = orders(1, 5);
      const bad = ["{not json", JSON.stringify({ id: "six", item: "x" }), JSON.stringify({ id: 7, item: "x".repeat(300) })];
      await publish("b-invalid.orders", [...good.slice(0, 2), ...bad, ...good.slice(2)]);
      await startApp(Strict);
      await waitFor("5 rows and 3 dead letters", async () => (await rows()).length === 5 && dlq.length === 3);
      expect(passed).toEqual(good.map((g) => JSON.parse(g)));
      expect(dlq.map((m) => dec.decode(m.data))).toEqual(bad);
      expect(dlq.map((m) => m.headers?.get(DEAD_LETTER_ERROR_HEADER))).toEqual([
        expect.stringMatching(/^ValidationError: .*not valid json/),
        expect.stringMatching(/^ValidationError: /),
        expect.stringMatching(/^HandlerError: payload too large/),
      ]);
      // A batch that throws: both messages nak'ed, redelivered once, then dead-lettered with the error.
      await publish("b-invalid.orders", [JSON.stringify({ id: 100, item: "poison" }), JSON.stringify({ id: 101, item: "poison too" })]);
      await waitFor("2 more dead letters", () => dlq.length === 5);
      await waitFor("every message settled", settledAll("B_INVALID", "strict"));
      expect(throws).toBeGreaterThanOrEqual(2);
      expect(dlq.slice(3).map((m) => [JSON.parse(dec.decode(m.data)).id, m.headers?.get(DEAD_LETTER_ERROR_HEADER)]).sort()).toEqual([
        [100, "Error: the database refused the batch"],
        [101, "Error: the database refused the batch"],
      ]);
    });
  });
}
