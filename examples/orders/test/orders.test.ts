// The orders example in this process against a real nats-server, called by a plain `nats` client: no
// envelope, plain JSON. The built example as a process: process.test.ts.
import "reflect-metadata";

import type { NatsApp } from "@natsflow/core";
import { captureLogs, startNatsServer, TestBroker, type NatsServer } from "@natsflow/testing";
import { connect, headers as natsHeaders, type NatsConnection } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { createOrdersApp } from "../src/app.js";

const enc = new TextEncoder();
const dec = new TextDecoder();
const service = { name: "orders", version: "0.0.0-test" };

describe("orders example on nats-server", () => {
  let server: NatsServer;
  let app: NatsApp;
  let nc: NatsConnection;

  const call = async (subject: string, body?: unknown, hdrs?: Record<string, string>) => {
    const h = natsHeaders();
    for (const [k, v] of Object.entries(hdrs ?? {})) h.set(k, v);
    const reply = await nc.request(subject, body === undefined ? new Uint8Array() : enc.encode(JSON.stringify(body)), { timeout: 2000, headers: h });
    return { code: reply.headers?.get("Nats-Service-Error-Code") || undefined, body: JSON.parse(dec.decode(reply.data)) as Record<string, unknown> };
  };

  beforeAll(async () => {
    server = await startNatsServer();
    app = await createOrdersApp({ servers: server.url, service, logger: captureLogs().logger });
    await app.start();
    nc = await connect({ servers: server.url });
  });

  afterAll(async () => {
    await nc?.close();
    await app?.stop();
    await server?.stop();
  });

  it("creates an order, publishes the event, and serves it back", async () => {
    const events: unknown[] = [];
    const sub = nc.subscribe("orders.events.>", { callback: (_e, m) => events.push(JSON.parse(dec.decode(m.data))) });
    await nc.flush();
    const created = await call("orders.create", { item: "tea", qty: 2, customer: "ann" }, { "Request-Id": "r-1" });
    expect(created.code).toBeUndefined();
    expect(created.body).toMatchObject({ item: "tea", qty: 2, customer: "ann", status: "open", requestId: "r-1" });
    const id = created.body.id as string;
    expect((await call(`orders.${id}.get`)).body).toMatchObject({ id, item: "tea" });
    expect((await call(`orders.${id}.cancel`)).body).toMatchObject({ id, status: "cancelled" });
    await expect.poll(() => events.length).toBe(2);
    expect((await call("orders.stats")).body).toEqual({ created: 1, cancelled: 1 });
    sub.unsubscribe();
  });

  it("answers invalid input with 400 and the issues, unknown orders with 404, and keeps serving", async () => {
    const invalid = await call("orders.create", { item: "", qty: 0 });
    expect(invalid.code).toBe("400");
    expect((invalid.body.issues as Array<{ path: string }>).map((i) => i.path).sort()).toEqual(["customer", "item", "qty"]);
    const malformed = await nc.request("orders.create", enc.encode("{oops"), { timeout: 2000 });
    expect(malformed.headers?.get("Nats-Service-Error-Code")).toBe("400");
    expect((await call("orders.999.get")).code).toBe("404");
    expect(Array.isArray((await call("orders.list")).body)).toBe(true);
  });
});

describe("orders example in memory", () => {
  it("runs the same controllers on the TestBroker", async () => {
    const broker = new TestBroker();
    const app = await createOrdersApp({ transport: broker.transport, service, logger: captureLogs().logger });
    await app.start();
    const client = broker.connect();
    const reply = await client.request("orders.create", enc.encode(JSON.stringify({ item: "cake", qty: 1, customer: "bo" })), { timeoutMs: 1000 });
    expect(JSON.parse(dec.decode(reply.data))).toMatchObject({ id: "1", item: "cake" });
    await client.close();
    await app.stop();
  });
});
