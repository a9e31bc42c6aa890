// The built example (dist/main.js) as a process, configured by its environment: NATS micro discovery,
// configuration errors, and SIGTERM under a steady stream of requests. One nats-server for the file.
import { fileURLToPath } from "node:url";

import { spawnTracked, startNatsServer, type NatsServer, type TrackedProcess } from "@natsflow/testing";
import { connect, ErrorCode, type NatsConnection, type NatsError } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { packageVersion } from "../src/settings.js";

const enc = new TextEncoder();
const dec = new TextDecoder();
const MAIN = fileURLToPath(new URL("../dist/main.js", import.meta.url));

async function all<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

describe("orders example as a process", () => {
  let server: NatsServer;
  let nc: NatsConnection;

  const startService = (env: Record<string, string> = {}): TrackedProcess =>
    spawnTracked(process.execPath, [MAIN], { label: "orders main.js", env: { ...process.env, NATS_URL: server.url, LOG_LEVEL: "info", ...env } });

  const call = (subject: string, body?: unknown) =>
    nc.request(subject, body === undefined ? new Uint8Array() : enc.encode(JSON.stringify(body)), { timeout: 2000 });

  beforeAll(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
  });

  afterAll(async () => {
    await nc?.close();
    await server?.stop();
  });

  it("answers $SRV.PING/INFO/STATS as orders with the package version, counting requests and errors", async () => {
    const service = startService();
    try {
      await service.waitForOutput(/natsflow app started/);
      // Production output stays JSON lines (natsflow dev makes them readable instead).
      expect(JSON.parse(service.output.split("\n")[0] as string)).toMatchObject({ level: 30, msg: expect.any(String) });
      const client = nc.services.client();
      const pings = await all(await client.ping("orders"));
      expect(pings).toHaveLength(1);
      const { id } = pings[0]!;
      expect(pings[0]).toMatchObject({ type: "io.nats.micro.v1.ping_response", name: "orders", version: packageVersion() });

      const [info] = await all(await client.info("orders", id));
      expect(info?.description).toMatch(/^Orders/);
      expect(info?.endpoints.map(({ name, subject, queue_group }) => ({ name, subject, queue_group }))).toEqual([
        { name: "OrdersController-create", subject: "orders.create", queue_group: "orders" },
        { name: "OrdersController-get", subject: "orders.*.get", queue_group: "orders" },
        { name: "OrdersController-cancel", subject: "orders.*.cancel", queue_group: "orders" },
        { name: "OrdersController-list", subject: "orders.list", queue_group: "orders" },
        { name: "StatsController-record", subject: "orders.events.*", queue_group: "" },
        { name: "StatsController-stats", subject: "orders.stats", queue_group: "" },
      ]);

      // Three good requests that publish no events (an event is a request of `record`), one 404.
      for (const subject of ["orders.list", "orders.stats", "orders.list"]) expect((await call(subject)).headers?.has("Nats-Service-Error-Code") ?? false).toBe(false);
      expect((await call("orders.999.get")).headers?.get("Nats-Service-Error-Code")).toBe("404");

      const [stats] = await all(await client.stats("orders", id));
      const endpoints = stats?.endpoints ?? [];
      expect(endpoints.reduce((n, e) => n + e.num_requests, 0)).toBe(4);
      expect(endpoints.reduce((n, e) => n + e.num_errors, 0)).toBe(1);
      expect(endpoints.find((e) => e.subject === "orders.*.get")).toMatchObject({ num_requests: 1, num_errors: 1, last_error: "order 999 not found" });
      expect(endpoints.find((e) => e.subject === "orders.list")).toMatchObject({ num_requests: 2, num_errors: 0, last_error: "" });
    } finally {
      void service.stop();
    }
    expect((await service.exited).code).toBe(0);
  });

  it.each([
    ["SERVICE_VERSION", "v1", /configuration error: SERVICE_VERSION: must be a semantic version/],
    ["SERVICE_NAME", "orders api", /configuration error: SERVICE_NAME: must be letters, digits/],
    ["NATS_PASSWORD", "", /configuration error: NATS_PASSWORD: is missing/],
    ["NATS_URL", "nats://x:1", /cannot connect to NATS at nats:\/\/x:1 \(NATS_URL\)/],
  ])("exits 1 at start naming %s when it is %j", async (variable, value, message) => {
    const service = startService({ NATS_USER: "orders", NATS_PASSWORD: "unused-secret", [variable]: value });
    const exit = await service.exited;
    expect(exit.code).toBe(1);
    expect(service.output).toMatch(message);
  });

  it("answers every request delivered to it when SIGTERM arrives under a steady stream: 0 timeouts, exit 0", async () => {
    const service = startService();
    const counts = { answered: 0, answeredAfterSignal: 0, sentAfterSignalAnswered: 0, noResponders: 0, timeouts: 0, other: [] as string[] };
    let signalled = false;
    let done = false;
    const requester = async (n: number, id: string) => {
      for (let i = n; !done; i++) {
        const sentAfterSignal = signalled;
        const [subject, body] = i % 2 === 0 ? ["orders.create", { item: "tea", qty: 1, customer: `c${n}` }] : [`orders.${id}.get`, undefined];
        try {
          const reply = await call(subject, body);
          expect(reply.headers?.has("Nats-Service-Error-Code") ?? false).toBe(false);
          counts.answered++;
          if (signalled) counts.answeredAfterSignal++;
          if (sentAfterSignal) counts.sentAfterSignalAnswered++;
        } catch (e) {
          const code = (e as NatsError).code;
          if (code === ErrorCode.NoResponders) {
            // Sent once the subscription was gone: expected; the pause keeps the loop off the CPU.
            counts.noResponders++;
            await new Promise((r) => setTimeout(r, 10));
          } else if (code === ErrorCode.Timeout) counts.timeouts++;
          else counts.other.push(String(e));
        }
      }
    };
    let requesters: Array<Promise<void>> = [];
    try {
      await service.waitForOutput(/natsflow app started/);
      const { id } = JSON.parse(dec.decode((await call("orders.create", { item: "pie", qty: 3, customer: "cy" })).data)) as { id: string };
      requesters = Array.from({ length: 20 }, (_, n) => requester(n, id));
      await expect.poll(() => counts.answered, { timeout: 10_000 }).toBeGreaterThanOrEqual(500);
      signalled = true;
    } finally {
      void service.stop();
    }
    const exit = await service.exited;
    // The process is gone: each requester's next request is a "no responders", and a timeout still
    // in the air would have to land within its 5 s before this resolves.
    done = true;
    await Promise.all(requesters);
    console.log(`SIGTERM under load: ${JSON.stringify({ ...counts, stopMs: Math.round(exit.stopMs ?? -1) })}`);
    expect(exit).toMatchObject({ code: 0, signal: null });
    expect(exit.stopMs).toBeLessThan(5000);
    expect(counts).toMatchObject({ timeouts: 0, other: [] });
    expect(counts.answeredAfterSignal).toBeGreaterThan(0);
    expect(counts.noResponders).toBeGreaterThan(0);
    expect(service.output).toMatch(/natsflow app stopped/);
    expect(service.output).not.toMatch(/shutdown timeout/);
  });
});
