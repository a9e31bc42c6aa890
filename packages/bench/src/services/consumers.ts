// The JetStream consumer services: a `@Consume` handler, or a raw `nats` consume loop doing the same
// work (decode JSON, ack), or a batch `@Consume` taking BATCH at once. argv: mode ("natsflow" | "raw" |
// "batch"), url, subject, durable, expected count.
import "reflect-metadata";

import { Consume, Controller, createLogger, defineStream, NatsApp, Payload } from "@natsflow/core";
import { AckPolicy, connect } from "nats";

import { BATCH, BENCH_STREAM, BENCH_SUBJECTS, CONCURRENCY } from "../jetstream-setup.js";

const [mode, url, subject, durable, n] = process.argv.slice(2) as [string, string, string, string, string];
const expected = Number(n);
let received = 0;
let first = 0;

function count(): void {
  if (received++ === 0) first = performance.now();
  if (received === expected) process.send?.({ received, ms: performance.now() - first });
}

if (mode === "raw") {
  const nc = await connect({ servers: url });
  const jsm = await nc.jetstreamManager();
  await jsm.consumers.add(BENCH_STREAM, { durable_name: durable, ack_policy: AckPolicy.Explicit, filter_subject: subject, max_ack_pending: CONCURRENCY });
  const consumer = await nc.jetstream().consumers.get(BENCH_STREAM, durable);
  const td = new TextDecoder();
  process.send?.("ready");
  const messages = await consumer.consume({ max_messages: CONCURRENCY });
  for await (const m of messages) {
    JSON.parse(td.decode(m.data));
    m.ack();
    count();
  }
} else {
  const STREAM = defineStream({ name: BENCH_STREAM, subjects: BENCH_SUBJECTS });
  @Controller()
  class Orders {
    @Consume(subject, { stream: STREAM, durable, concurrency: CONCURRENCY })
    handle(@Payload() _order: unknown): void {
      count();
    }
  }
  @Controller()
  class BatchedOrders {
    @Consume(subject, { stream: STREAM, durable, batch: { max: BATCH } })
    handle(@Payload() orders: unknown[]): void {
      for (let i = 0; i < orders.length; i++) count();
    }
  }
  const app = await NatsApp.create({ servers: url, controllers: [mode === "batch" ? BatchedOrders : Orders], logger: createLogger({ level: "warn" }) });
  await app.start();
  process.send?.("ready");
}
