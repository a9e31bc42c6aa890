/**
 * JetStream consumers when the server goes away: nats-server restarted (same store, same port) under
 * a running `@Consume` handler resumes consumption by itself, and no stored message is lost.
 */
import "reflect-metadata";

import { Consume, Controller, defineStream, NatsApp, Payload } from "@natsflow/core";
import { captureLogs, startNatsServer, type NatsServer } from "@natsflow/testing";
import { connect } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const enc = new TextEncoder();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let server: NatsServer;

beforeAll(async () => {
  server = await startNatsServer({ jetstream: true });
});

afterAll(async () => {
  await server?.stop();
});

const JOBS = defineStream({ name: "FAULT_JOBS", subjects: ["fault.jobs.>"] });

describe("@Consume across a server restart", () => {
  it("resumes within 5 s of the server coming back, and handles every stored message once", async () => {
    const seen = new Map<number, number>();
    @Controller()
    class Worker {
      @Consume("fault.jobs.run", { stream: JOBS, durable: "worker", concurrency: 4 })
      run(@Payload() job: { n: number }) {
        seen.set(job.n, (seen.get(job.n) ?? 0) + 1);
      }
    }
    const app = await NatsApp.create({ servers: server.url, controllers: [Worker], logger: captureLogs("warn").logger, reconnectTimeWaitMs: 100 });
    await app.start();
    const publishAll = async (from: number, to: number) => {
      const nc = await connect({ servers: server.url });
      const js = nc.jetstream();
      for (let n = from; n < to; n++) await js.publish("fault.jobs.run", enc.encode(JSON.stringify({ n })));
      await nc.close();
    };
    try {
      await publishAll(0, 20);
      await expect.poll(() => seen.size, { timeout: 10_000 }).toBe(20);
      // Acked at the server before it goes (an ack lost to the halt would be a redelivery, by design).
      await expect.poll(async () => {
        const nc = await connect({ servers: server.url });
        const info = await (await nc.jetstreamManager()).consumers.info("FAULT_JOBS", "worker");
        await nc.close();
        return info.ack_floor.stream_seq;
      }, { timeout: 5_000 }).toBe(20);
      await server.halt();
      await sleep(500);
      await server.resume();
      const back = Date.now();
      // Stored while the consumer is still reconnecting: none may be lost.
      await publishAll(20, 40);
      await expect.poll(() => seen.size, { timeout: 5_000, interval: 50 }).toBe(40);
      expect(Date.now() - back).toBeLessThan(5_000);
      expect([...seen.values()].every((count) => count === 1)).toBe(true);
    } finally {
      await app.stop();
    }
  }, 30_000);
});
