// The built example (dist/main.js) as a process, configured by its environment: both servers up
// from one start, a configuration error named, and SIGTERM stopping both gracefully — the HTTP request
// in flight is answered, new connections are refused, NATS drains, and the process exits 0.
import { fileURLToPath } from "node:url";

import { spawnTracked, startNatsServer, type NatsServer, type TrackedProcess } from "@natsflow/testing";
import { connect, type Msg, type NatsConnection } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { refused } from "./refused.js";

const MAIN = fileURLToPath(new URL("../dist/main.js", import.meta.url));

describe("http-gateway example as a process", () => {
  let server: NatsServer;
  let nc: NatsConnection;

  const startGateway = (env: Record<string, string> = {}): TrackedProcess =>
    spawnTracked(process.execPath, [MAIN], { label: "http-gateway main.js", env: { ...process.env, NATS_URL: server.url, HTTP_PORT: "0", LOG_LEVEL: "info", ...env } });

  /** The URL it logged once listening. */
  const listening = async (gateway: TrackedProcess): Promise<string> => {
    await gateway.waitForOutput(/http gateway listening/);
    const line = gateway.output.split("\n").find((l) => l.includes("http gateway listening")) as string;
    return (JSON.parse(line) as { url: string }).url;
  };

  beforeAll(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
  });
  afterAll(async () => {
    await nc?.close();
    await server?.stop();
  });

  it("serves HTTP and the orders service from one start; /readyz is 200 once both are up", async () => {
    const gateway = startGateway();
    try {
      const url = await listening(gateway);
      expect(gateway.output).toMatch(/natsflow app started/);
      expect((await fetch(`${url}/readyz`)).status).toBe(200);
      const created = await fetch(`${url}/orders`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ item: "tea", qty: 1 }) });
      expect(created.status).toBe(201);
      const { id } = (await created.json()) as { id: string };
      expect(await (await fetch(`${url}/orders/${id}`)).json()).toEqual({ id, item: "tea", qty: 1 });
    } finally {
      void gateway.stop();
    }
    expect((await gateway.exited).code).toBe(0);
  });

  it.each([
    ["HTTP_PORT", "http", /configuration error: HTTP_PORT: /],
    ["SERVE_ORDERS", "maybe", /configuration error: SERVE_ORDERS: /],
    ["NATS_URL", "nats://x:1", /cannot connect to NATS at nats:\/\/x:1 \(NATS_URL\)/],
  ])("exits 1 at start naming %s when it is %j", async (variable, value, message) => {
    const gateway = startGateway({ [variable]: value });
    expect((await gateway.exited).code).toBe(1);
    expect(gateway.output).toMatch(message);
  });

  it("SIGTERM: the HTTP request in flight is answered, new connections are refused, NATS drains, exit 0", async () => {
    // The orders service is this test, answering only when told to: the request stays in flight.
    const held: Msg[] = [];
    const service = nc.subscribe("orders.create", { callback: (_e, m) => held.push(m) });
    await nc.flush();
    const gateway = startGateway({ SERVE_ORDERS: "false", UPSTREAM_TIMEOUT_MS: "5000" });
    let signalled = false;
    try {
      const url = await listening(gateway);
      const inFlight = fetch(`${url}/orders`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ item: "slow tea", qty: 1 }) });
      await expect.poll(() => held.length).toBe(1);

      signalled = true;
      void gateway.stop();
      await gateway.waitForOutput(/shutting down/);
      await expect.poll(() => refused(url)).toBe(true);
      expect(gateway.hasExited).toBe(false);

      held[0]!.respond(new TextEncoder().encode(JSON.stringify({ id: "7", item: "slow tea", qty: 1 })));
      const res = await inFlight;
      expect(res.status).toBe(201);
      expect(await res.json()).toEqual({ id: "7", item: "slow tea", qty: 1 });
    } finally {
      // One SIGTERM only: a second one ends the process at once (process.once in app.listen).
      if (!signalled) void gateway.stop();
      service.unsubscribe();
    }
    const exit = await gateway.exited;
    expect(exit).toMatchObject({ code: 0, signal: null });
    expect(gateway.hasExited).toBe(true);
    // Inside the app's 10 s shutdown budget (shutdownTimeoutMs), which bounds HTTP and NATS together.
    expect(exit.stopMs).toBeLessThan(10_000);
    // HTTP closed before NATS drained; nothing overran the shutdown budget.
    const order = ["shutting down", "http gateway closed", "natsflow app stopped"].map((m) => gateway.output.indexOf(m));
    expect(order.every((at, i) => at >= 0 && (i === 0 || at > (order[i - 1] as number)))).toBe(true);
    expect(gateway.output).not.toMatch(/shutdown timeout/);
  });
});
