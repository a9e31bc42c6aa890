/**
 * NATS micro discovery against a real nats-server: the `$SRV` subjects in all three forms, read raw
 * and through the `nats` package's own services client, stats after real requests, and two instances.
 */
import "reflect-metadata";

import { Consume, Controller, defineStream, HandlerError, NatsApp, Param, Payload, Subscribe, type NatsAppOptions } from "@natsflow/core";
import { captureLogs, startNatsServer, type NatsServer } from "@natsflow/testing";
import { connect, RequestStrategy, type NatsConnection } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const enc = new TextEncoder();
const dec = new TextDecoder();

const JOBS = defineStream({ name: "MICRO_JOBS", subjects: ["micro.orders.jobs.>"] });

@Controller("micro.orders")
class Orders {
  @Subscribe("{id}.get", { queue: "orders", metadata: { kind: "query" } })
  get(@Param("id") id: string) {
    if (id === "missing") throw new HandlerError("order missing not found", 404);
    return { id };
  }

  @Subscribe("hello")
  hello(@Payload() name: string) {
    return `hello ${name}`;
  }

  // A JetStream consumer takes no requests: not an endpoint.
  @Consume("jobs.run", { stream: JOBS, durable: "micro-jobs" })
  run() {}
}

const SERVICE = { name: "orders", version: "1.2.3", description: "orders, the micro way", metadata: { region: "eu" } };

let server: NatsServer;
let nc: NatsConnection;
let app: NatsApp;

const options = (): NatsAppOptions => ({ servers: server.url, controllers: [Orders], service: SERVICE, logger: captureLogs("warn").logger });

async function all<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

async function ask(subject: string): Promise<Record<string, unknown>> {
  return JSON.parse(dec.decode((await nc.request(subject, undefined, { timeout: 2_000 })).data)) as Record<string, unknown>;
}

beforeAll(async () => {
  server = await startNatsServer({ jetstream: true });
  nc = await connect({ servers: server.url });
  app = await NatsApp.create(options());
  await app.start();
});

afterAll(async () => {
  await app?.stop();
  await nc?.close();
  await server?.stop();
});

const ENDPOINTS = [
  { name: "Orders-get", subject: "micro.orders.*.get", queue_group: "orders", metadata: { kind: "query" } },
  { name: "Orders-hello", subject: "micro.orders.hello", queue_group: "", metadata: {} },
];

describe("NATS micro discovery", () => {
  it("answers PING, INFO and STATS on $SRV.<VERB>, $SRV.<VERB>.<name> and $SRV.<VERB>.<name>.<id>", async () => {
    const id = app.serviceId;
    expect(id).toMatch(/^[0-9A-Za-z]{22}$/);
    const identity = { name: "orders", id, version: "1.2.3", metadata: { region: "eu" } };
    for (const subject of ["$SRV.PING", "$SRV.PING.orders", `$SRV.PING.orders.${id}`]) {
      expect(await ask(subject)).toEqual({ type: "io.nats.micro.v1.ping_response", ...identity });
    }
    for (const subject of ["$SRV.INFO", "$SRV.INFO.orders", `$SRV.INFO.orders.${id}`]) {
      expect(await ask(subject)).toEqual({ type: "io.nats.micro.v1.info_response", ...identity, description: "orders, the micro way", endpoints: ENDPOINTS });
    }
    for (const subject of ["$SRV.STATS", "$SRV.STATS.orders", `$SRV.STATS.orders.${id}`]) {
      const stats = await ask(subject);
      expect(stats).toMatchObject({ type: "io.nats.micro.v1.stats_response", ...identity });
      expect((stats.endpoints as Array<{ name: string }>).map((e) => e.name)).toEqual(["Orders-get", "Orders-hello"]);
    }
    // Another name or id is not this service's business.
    await expect(nc.request("$SRV.PING.billing", undefined, { timeout: 300 })).rejects.toThrow();
    await expect(nc.request("$SRV.PING.orders.0000000000000000000000", undefined, { timeout: 300 })).rejects.toThrow();
  });

  it("is read by the nats package's services client: ping, info and stats", async () => {
    const client = nc.services.client();
    const [ping] = await all(await client.ping());
    expect(ping).toEqual({ type: "io.nats.micro.v1.ping_response", name: "orders", id: app.serviceId, version: "1.2.3", metadata: { region: "eu" } });
    const [info] = await all(await client.info("orders"));
    expect(info?.endpoints).toEqual(ENDPOINTS);
    expect(info?.description).toBe("orders, the micro way");
    const [stats] = await all(await client.stats("orders", app.serviceId));
    expect(stats?.id).toBe(app.serviceId);
    expect(Math.abs(Date.parse(stats?.started ?? "") - Date.now())).toBeLessThan(60_000);
  });

  it("counts requests, errors, the last error and processing time per endpoint", async () => {
    const before = (await all(await nc.services.client().stats("orders"))).at(0)?.endpoints ?? [];
    const reply = async (subject: string, data = "") => nc.request(subject, enc.encode(JSON.stringify(data)), { timeout: 2_000 });
    await reply("micro.orders.1.get");
    await reply("micro.orders.2.get");
    const failed = await reply("micro.orders.missing.get");
    expect(failed.headers?.get("Nats-Service-Error")).toBe("order missing not found");
    expect(dec.decode((await reply("micro.orders.hello", "ann")).data)).toBe('"hello ann"');
    const [stats] = await all(await nc.services.client().stats("orders"));
    const [get, hello] = stats?.endpoints ?? [];
    const baseline = (name: string) => before.find((e) => e.name === name)?.num_requests ?? 0;
    expect(get).toMatchObject({ name: "Orders-get", subject: "micro.orders.*.get", queue_group: "orders", num_errors: 1, last_error: "order missing not found" });
    expect(get?.num_requests).toBe(baseline("Orders-get") + 3);
    expect(hello).toMatchObject({ name: "Orders-hello", queue_group: "", num_errors: 0, last_error: "" });
    expect(hello?.num_requests).toBe(baseline("Orders-hello") + 1);
    for (const e of [get, hello]) {
      expect(Number.isInteger(e?.processing_time)).toBe(true);
      expect(e?.processing_time).toBeGreaterThan(0);
      expect(e?.average_processing_time).toBe(Math.trunc((e?.processing_time ?? 0) / (e?.num_requests ?? 1)));
    }
  });

  it("keeps discovery out of the handler metrics", async () => {
    await ask("$SRV.PING");
    const metrics = await app.metrics.registry.metrics();
    expect(metrics).not.toContain("SRV");
    expect(app.handlers.map((h) => h.name)).toEqual(["Orders.get", "Orders.hello", "Orders.run"]);
  });

  it("gives each instance its own id; both answer $SRV.PING.<name>; a stopped one stops answering", async () => {
    const second = await NatsApp.create(options());
    await second.start();
    try {
      expect(second.serviceId).not.toBe(app.serviceId);
      const ids = (await all(await nc.services.client().ping("orders"))).map((p) => p.id).sort();
      expect(ids).toEqual([app.serviceId, second.serviceId].sort());
      const raw = await all(await nc.requestMany("$SRV.PING.orders", undefined, { strategy: RequestStrategy.Count, maxMessages: 2, maxWait: 2_000 }));
      expect(raw).toHaveLength(2);
      const [only] = await all(await nc.services.client().info("orders", second.serviceId));
      expect(only?.id).toBe(second.serviceId);
    } finally {
      await second.stop();
    }
    const ids = (await all(await nc.services.client().ping("orders"))).map((p) => p.id);
    expect(ids).toEqual([app.serviceId]);
  });
});
