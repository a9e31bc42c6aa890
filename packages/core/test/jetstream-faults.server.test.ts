/**
 * JetStream consumers when the server goes away: nats-server restarted (same store, same port) under
 * a running `@Consume` handler resumes consumption by itself, and no stored message is lost. A cluster
 * losing its leaders is in jetstream-cluster.server.test.ts.
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
  it("resumes within 5 s of the server coming back, and handles every stored message once: pull, push and ordered", async () => {
    const seen = new Map<number, number>();
    const pushed = new Map<number, number>();
    const ordered: number[] = [];
    @Controller()
    class Worker {
      @Consume("fault.jobs.run", { stream: JOBS, durable: "worker", concurrency: 4 })
      run(@Payload() job: { n: number }) {
        seen.set(job.n, (seen.get(job.n) ?? 0) + 1);
      }

      @Consume("fault.jobs.run", { stream: JOBS, durable: "pusher", push: true, concurrency: 4 })
      push(@Payload() job: { n: number }) {
        pushed.set(job.n, (pushed.get(job.n) ?? 0) + 1);
      }

      // Its consumer is in memory, gone with the server: the client makes a new one past the last sequence seen.
      @Consume("fault.jobs.run", { stream: JOBS, ordered: true })
      view(@Payload() job: { n: number }) {
        ordered.push(job.n);
      }
    }
    const app = await NatsApp.create({ servers: server.url, controllers: [Worker], logger: captureLogs("warn").logger, reconnectTimeWaitMs: 100 });
    await app.start();
    const publishAll = async (from: number, to: number) => {
      const nc = await connect({ servers: server.url });
      const js = nc.jetstream();
      // With a msgId, a publish retried by the client while the server comes up is stored once.
      for (let n = from; n < to; n++) await js.publish("fault.jobs.run", enc.encode(JSON.stringify({ n })), { msgID: `job-${n}` });
      await nc.close();
    };
    try {
      await publishAll(0, 20);
      await expect.poll(() => seen.size + pushed.size + ordered.length, { timeout: 10_000 }).toBe(60);
      // Acked at the server before it goes (an ack lost to the halt would be a redelivery, by design).
      await expect.poll(async () => {
        const nc = await connect({ servers: server.url });
        const jsm = await nc.jetstreamManager();
        const floors = await Promise.all(["worker", "pusher"].map(async (d) => (await jsm.consumers.info("FAULT_JOBS", d)).ack_floor.stream_seq));
        await nc.close();
        return floors;
      }, { timeout: 5_000 }).toEqual([20, 20]);
      await server.halt();
      await sleep(500);
      await server.resume();
      const back = Date.now();
      // Stored while the consumer is still reconnecting: none may be lost.
      await publishAll(20, 40);
      await expect.poll(() => seen.size + pushed.size + ordered.length, { timeout: 5_000, interval: 50 }).toBe(120);
      expect(Date.now() - back).toBeLessThan(5_000);
      const twice = (m: Map<number, number>) => [...m].filter(([, count]) => count !== 1).map(([n]) => n);
      expect({ pull: twice(seen), push: twice(pushed) }).toEqual({ pull: [], push: [] });
      expect(ordered).toEqual(Array.from({ length: 40 }, (_, n) => n));
    } finally {
      await app.stop();
    }
  }, 30_000);
});
