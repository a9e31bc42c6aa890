/**
 * The guarantees a `@Subscribe` handler keeps on the event fast path (a synchronous handler finishes
 * in the turn its message arrived: no promise, metrics as plain counts read at scrape time, micro
 * stats kept only when discovery is on), run against the in-memory TestBroker and a real nats-server.
 */
import "reflect-metadata";

import { Controller, HandlerError, NatsApp, Payload, Subscribe, type InboundMessage, type NatsAppOptions, type Transport } from "@natsflow/core";
import { captureLogs } from "@natsflow/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import type { SuiteEnvironment } from "./handler-suite.js";

const enc = new TextEncoder();
const dec = new TextDecoder();
const body = (value: unknown) => enc.encode(JSON.stringify(value));
const json = (m: InboundMessage) => JSON.parse(dec.decode(m.data)) as Record<string, unknown>;

/** Resolves what a test opens: lets an asynchronous handler hold its slot until the test says so. */
class Gate {
  private open: (() => void) | undefined;
  private opened = Promise.resolve();
  close(): void {
    this.opened = new Promise((resolve) => (this.open = resolve));
  }
  release(): void {
    this.open?.();
  }
  wait(): Promise<void> {
    return this.opened;
  }
}

const gate = new Gate();
const seen = { running: 0, most: 0, handled: 0 };

@Controller("fast")
class FastPath {
  // Even numbers are handled synchronously, odd ones after an await: the bound holds for both.
  @Subscribe("mixed", { concurrency: 3, maxPending: Infinity })
  mixed(@Payload() p: { n: number }): void | Promise<void> {
    seen.most = Math.max(seen.most, ++seen.running);
    if (p.n % 2 === 0) {
      seen.running--;
      seen.handled++;
      return;
    }
    return new Promise<void>((resolve) => setTimeout(resolve, 1)).then(() => {
      seen.running--;
      seen.handled++;
    });
  }

  // One slot, held by the first message until the gate opens; the rest queue behind it, unbounded.
  @Subscribe("queued", { concurrency: 1, maxPending: Infinity })
  queued(@Payload() p: { first?: boolean }): void | Promise<void> {
    if (p.first) return gate.wait().then(() => void seen.handled++);
    seen.handled++;
  }

  @Subscribe("counted", { concurrency: 1, maxPending: 0 })
  counted(@Payload() p: { fail?: boolean; hold?: boolean }): { ok: true } | Promise<{ ok: true }> {
    if (p.fail) throw new HandlerError("refused", 422);
    if (p.hold) return gate.wait().then(() => ({ ok: true }) as const);
    return { ok: true };
  }

  @Subscribe("echo", { concurrency: 4 })
  echo(@Payload() p: { n: number; slow?: boolean }): { n: number } | Promise<{ n: number }> {
    if (p.slow) return new Promise((resolve) => setTimeout(() => resolve({ n: p.n }), 20));
    return { n: p.n };
  }
}

/** The value of one series in the Prometheus text, 0 when it is not there. */
function sample(text: string, metric: string, labels: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${metric}{${labels}}`));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(" ") + 1));
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

export function fastPathSuite(name: string, makeEnvironment: () => Promise<SuiteEnvironment>): void {
  describe(`the event fast path on ${name}`, () => {
    let env: SuiteEnvironment;
    let app: NatsApp;
    let client: Transport;
    const service = { name: "fastpath", version: "1.0.0" };
    const options = (): NatsAppOptions => ({ ...env.appOptions(), controllers: [FastPath], service, logger: captureLogs("warn").logger }) as NatsAppOptions;

    beforeAll(async () => {
      env = await makeEnvironment();
      app = await NatsApp.create(options());
      await app.start();
      client = await env.client();
    });

    afterAll(async () => {
      await client?.close();
      await app?.stop();
      await env?.stop();
    });

    it("keeps at most `concurrency` handlers running when synchronous and asynchronous ones mix", async () => {
      Object.assign(seen, { running: 0, most: 0, handled: 0 });
      for (let n = 0; n < 400; n++) client.publish("fast.mixed", body({ n }));
      await client.flush();
      await until(() => seen.handled === 400, "400 handled");
      expect(seen.most).toBe(3);
      expect(seen.running).toBe(0);
    });

    it("hands a long queue of synchronous messages on in a loop, not by recursion (no stack overflow)", async () => {
      Object.assign(seen, { running: 0, most: 0, handled: 0 });
      gate.close();
      client.publish("fast.queued", body({ first: true }));
      await client.flush();
      const queued = 30_000;
      for (let i = 0; i < queued; i++) {
        client.publish("fast.queued", body({}));
        if (i % 1000 === 999) await client.flush();
      }
      await client.flush();
      // Everything is queued behind the held slot before it frees: one release then runs them all.
      const metrics = async () => app.metrics.registry.metrics();
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(seen.handled).toBe(0);
      gate.release();
      await until(() => seen.handled === queued + 1, `${queued + 1} handled`);
      expect(sample(await metrics(), "natsflow_handler_messages_total", 'handler="FastPath.queued",result="ok"')).toBe(queued + 1);
    });

    it("counts ok, error and overloaded messages and the in-flight gauge, read at each scrape", async () => {
      const text = () => app.metrics.registry.metrics();
      const series = (result: string) => `handler="FastPath.counted",result="${result}"`;
      for (let i = 0; i < 5; i++) expect(json(await client.request("fast.counted", body({}), { timeoutMs: 2000 }))).toEqual({ ok: true });
      await expect(client.request("fast.counted", body({ fail: true }), { timeoutMs: 2000 })).resolves.toSatisfy((m: InboundMessage) => m.headers?.get("Nats-Service-Error-Code") === "422");
      let scraped = await text();
      expect(sample(scraped, "natsflow_handler_messages_total", series("ok"))).toBe(5);
      expect(sample(scraped, "natsflow_handler_messages_total", series("error"))).toBe(1);

      // Its one slot held, and no queue: the next message is overloaded (503) at once.
      gate.close();
      const held = client.request("fast.counted", body({ hold: true }), { timeoutMs: 5000 });
      let inFlight = 0;
      await until(() => {
        void text().then((t) => (inFlight = sample(t, "natsflow_handler_in_flight", 'handler="FastPath.counted"')));
        return inFlight === 1;
      }, "the held message in flight");
      const refused = await client.request("fast.counted", body({}), { timeoutMs: 2000 });
      expect(refused.headers?.get("Nats-Service-Error-Code")).toBe("503");
      gate.release();
      expect(json(await held)).toEqual({ ok: true });

      // A second scrape adds what was counted since the first, once.
      scraped = await text();
      expect(sample(scraped, "natsflow_handler_messages_total", series("ok"))).toBe(6);
      expect(sample(scraped, "natsflow_handler_messages_total", series("error"))).toBe(1);
      expect(sample(scraped, "natsflow_handler_messages_total", series("overloaded"))).toBe(1);
      expect(sample(scraped, "natsflow_handler_in_flight", 'handler="FastPath.counted"')).toBe(0);
      expect(sample(await text(), "natsflow_handler_messages_total", series("ok"))).toBe(6);
    });

    it("keeps micro stats for synchronous handlers: requests, errors and processing time", async () => {
      const before = await endpointStats(client, "FastPath-counted");
      for (let i = 0; i < 10; i++) await client.request("fast.counted", body({}), { timeoutMs: 2000 });
      await client.request("fast.counted", body({ fail: true }), { timeoutMs: 2000 });
      const after = await endpointStats(client, "FastPath-counted");
      expect(after.num_requests - before.num_requests).toBe(11);
      expect(after.num_errors - before.num_errors).toBe(1);
      expect(after.last_error).toBe("refused");
      expect(after.processing_time).toBeGreaterThan(before.processing_time);
    });

    it("answers every request already received when stopped, synchronous and slow ones alike", async () => {
      const second = await NatsApp.create(options());
      await second.start();
      await app.stop();
      try {
        const answers = Array.from({ length: 40 }, (_, n) => client.request("fast.echo", body({ n, slow: n % 2 === 1 }), { timeoutMs: 5000 }));
        await client.flush();
        await new Promise((resolve) => setTimeout(resolve, 30));
        const stopped = second.stop();
        const replies = await Promise.all(answers);
        await stopped;
        expect(replies.map((m) => json(m).n)).toEqual(Array.from({ length: 40 }, (_, n) => n));
      } finally {
        app = await NatsApp.create(options());
        await app.start();
      }
    });
  });
}

interface EndpointStatsReply {
  num_requests: number;
  num_errors: number;
  last_error: string;
  processing_time: number;
}

async function endpointStats(client: Transport, endpoint: string): Promise<EndpointStatsReply> {
  const reply = await client.request("$SRV.STATS.fastpath", new Uint8Array(0), { timeoutMs: 2000 });
  const stats = json(reply) as { endpoints: Array<EndpointStatsReply & { name: string }> };
  const found = stats.endpoints.find((e) => e.name === endpoint);
  if (!found) throw new Error(`no endpoint ${endpoint} in ${JSON.stringify(stats)}`);
  return found;
}
