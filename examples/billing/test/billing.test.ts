// The billing example against a real nats-server with JetStream, called by a plain `nats` client.
import "reflect-metadata";

import type { NatsApp } from "@natsflow/core";
import { captureLogs, spawnTracked, startNatsServer, type NatsServer } from "@natsflow/testing";
import { connect, type Msg, type NatsConnection } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { createBillingApp } from "../src/app.js";
import { InvoiceRepository } from "../src/invoices.js";

const enc = new TextEncoder();
const dec = new TextDecoder();

describe("billing example on nats-server with JetStream", () => {
  let server: NatsServer;
  let app: NatsApp;
  let nc: NatsConnection;
  let invoices: InvoiceRepository;
  const deadLetters: Msg[] = [];

  beforeAll(async () => {
    server = await startNatsServer({ jetstream: true });
    app = await createBillingApp({ servers: server.url, logger: captureLogs().logger });
    invoices = app.container.resolve(InvoiceRepository);
    await app.start();
    nc = await connect({ servers: server.url });
    nc.subscribe("orders.dlq", { callback: (_e, m) => deadLetters.push(m) });
    await nc.flush();
  });
  afterAll(async () => {
    await nc?.close();
    await app?.stop();
    await server?.stop();
  });

  const place = async (order: object) => JSON.parse(dec.decode((await nc.request("orders.place", enc.encode(JSON.stringify(order)), { timeout: 5000 })).data)) as unknown;

  it("stores the order as an event before answering, and bills it once even when placed twice", async () => {
    expect(await place({ id: "A-1", customer: "ada", amountCents: 1200 })).toMatchObject({ id: "A-1" });
    expect(await place({ id: "A-1", customer: "ada", amountCents: 1200 })).toMatchObject({ id: "A-1" });
    await expect.poll(() => invoices.find("A-1")).toMatchObject({ customer: "ada", amountCents: 1200, discountPercent: 0 });
    const jsm = await nc.jetstreamManager();
    expect((await jsm.streams.info("ORDERS")).state.messages).toBe(1);
  });

  it("applies a discount flag set in the KV bucket to orders billed afterwards", async () => {
    const kv = await nc.jetstream().views.kv("billing_flags");
    await kv.put("discount", enc.encode(JSON.stringify({ discountPercent: 10 })));
    await new Promise((r) => setTimeout(r, 200));
    await place({ id: "B-1", customer: "bo", amountCents: 500 });
    await expect.poll(() => invoices.find("B-1")?.discountPercent).toBe(10);
  });

  it("retries a failed write, and dead-letters an order it cannot bill after 3 deliveries", async () => {
    invoices.failNext = 1;
    await place({ id: "C-1", customer: "cy", amountCents: 700 });
    await expect.poll(() => invoices.find("C-1"), { timeout: 5000 }).toBeDefined(); // the second delivery succeeded
    invoices.failNext = 3;
    await place({ id: "C-2", customer: "cy", amountCents: 800 });
    await expect.poll(() => deadLetters.length, { timeout: 5000 }).toBe(1);
    expect(deadLetters[0]?.headers?.get("Natsflow-Dead-Letter-Deliveries")).toBe("3");
    expect(invoices.find("C-2")).toBeUndefined();
  });

  it("dead-letters an event that is not an order at once, without retrying", async () => {
    await nc.jetstream().publish("orders.events.placed", enc.encode(JSON.stringify({ id: "", customer: "x" })));
    await expect.poll(() => deadLetters.length, { timeout: 5000 }).toBe(2);
    expect(deadLetters[1]?.headers?.get("Natsflow-Dead-Letter-Deliveries")).toBe("1");
  });
});

describe("billing example as a process", () => {
  it("serves from NATS_URL and exits 0 on SIGTERM", async () => {
    const server = await startNatsServer({ jetstream: true });
    const service = spawnTracked(process.execPath, [new URL("../dist/main.js", import.meta.url).pathname], {
      label: "billing main.js",
      env: { ...process.env, NATS_URL: server.url, LOG_LEVEL: "info" },
    });
    try {
      await service.waitForOutput(/natsflow app started/);
      const client = await connect({ servers: server.url });
      const reply = await client.request("orders.place", enc.encode(JSON.stringify({ id: "P-1", customer: "pat", amountCents: 100 })), { timeout: 5000 });
      expect(JSON.parse(dec.decode(reply.data))).toMatchObject({ id: "P-1" });
      await service.waitForOutput(/order billed/);
      await client.close();
    } finally {
      void service.stop();
    }
    expect((await service.exited).code).toBe(0);
    await server.stop();
  });
});

describe("billing example: SIGTERM in the middle of a batch", () => {
  it("every order is billed, none twice, across a stop and a restart on the same durable", async () => {
    const server = await startNatsServer({ jetstream: true });
    const launch = () =>
      spawnTracked(process.execPath, [new URL("../dist/main.js", import.meta.url).pathname], {
        label: "billing main.js",
        env: { ...process.env, NATS_URL: server.url, LOG_LEVEL: "info" },
      });
    const billed = (output: string) => [...output.matchAll(/"order":"(N-\d+)"[^\n]*"msg":"order billed"/g)].map((m) => m[1]);
    const total = 3000;
    try {
      const first = launch();
      await first.waitForOutput(/natsflow app started/);
      const client = await connect({ servers: server.url });
      const js = client.jetstream();
      await Promise.all(Array.from({ length: total }, (_, i) => js.publish("orders.events.placed", enc.encode(JSON.stringify({ id: `N-${i}`, customer: "n", amountCents: 1 })))));
      // Mid-batch: some billed, most still stored.
      await first.waitForOutput(/"order":"N-\d+"[^\n]*order billed/);
      void first.stop();
      expect((await first.exited).code).toBe(0);
      const second = launch();
      try {
        const all = () => [...billed(first.output), ...billed(second.output)];
        // Messages the server sent to the first process's pull after it stopped pulling are neither
        // handled nor lost: they come back after the ack wait (30 s), hence the patience.
        await expect.poll(() => new Set(all()).size, { timeout: 45_000 }).toBe(total);
        expect(all()).toHaveLength(total); // none billed twice
        expect(billed(first.output).length).toBeLessThan(total);
      } finally {
        void second.stop();
        await second.exited;
        await client.close();
      }
    } finally {
      await server.stop();
    }
  }, 90_000);
});
