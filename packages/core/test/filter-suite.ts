/**
 * Several handlers on one subject (or one durable), told apart by filters: run against the in-memory
 * TestBroker and a real nats-server with JetStream (filters.memory.test.ts, filters.server.test.ts).
 */
import "reflect-metadata";

import { createRequire } from "node:module";

import {
  Consume,
  Controller,
  DEAD_LETTER_ERROR_HEADER,
  defineStream,
  Headers,
  NatsApp,
  Payload,
  ServiceError,
  Subscribe,
  type Constructor,
  type InboundMessage,
  type MessageHeaders,
  type NatsAppOptions,
  type Transport,
} from "@natsflow/core";
import { captureLogs, captureSpans, type CapturedLogs } from "@natsflow/testing";
import { Ajv } from "ajv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";

export interface FilterEnvironment {
  /** Connection settings for an app under test (servers, or an in-memory transport); JetStream on. */
  appOptions(): Partial<NatsAppOptions>;
  client(): Promise<Transport>;
  stop(): Promise<void>;
}

const specs = createRequire(import.meta.url)("@asyncapi/specs") as { schemas: Record<string, object> };
const dec = new TextDecoder();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

export function filterSuite(name: string, setup: () => Promise<FilterEnvironment>): void {
  describe(`filters and several handlers per subject on ${name}`, () => {
    let env: FilterEnvironment;
    let client: Transport;
    const apps: NatsApp[] = [];

    beforeAll(async () => {
      env = await setup();
      client = await env.client();
    });
    afterAll(async () => {
      await Promise.all(apps.map((a) => a.stop()));
      await client?.close();
      await env?.stop();
    });

    const startApp = async (controllers: Constructor[], logs: CapturedLogs = captureLogs("warn"), options: Partial<NatsAppOptions> = {}) => {
      const app = await NatsApp.create({ ...env.appOptions(), controllers, logger: logs.logger, shutdownTimeoutMs: 5_000, ...options });
      apps.push(app);
      await app.start();
      return app;
    };
    const collect = (subject: string) => {
      const got: InboundMessage[] = [];
      client.subscribe(subject, {}, (m) => got.push(m));
      return got;
    };

    it("routes each message on one subject to exactly one of three handlers: two filtered by header, one default", async () => {
      const seen: string[] = [];
      @Controller("flt.orders")
      class Orders {
        @Subscribe("events", { filter: { headers: { type: "created" } } })
        created(@Payload() p: { id: number }) {
          seen.push(`created:${p.id}`);
          return "created";
        }

        // Declared between the filtered ones: the default still runs only when neither matches.
        @Subscribe("events")
        other(@Payload() p: { id: number }, @Headers() h: MessageHeaders | undefined) {
          seen.push(`other:${p.id}:${h?.get("type") ?? "-"}`);
          return "other";
        }

        @Subscribe("events", { filter: { headers: { type: ["updated", "patched"] } } })
        updated(@Payload() p: { id: number }) {
          seen.push(`updated:${p.id}`);
          return "updated";
        }
      }
      const app = await startApp([Orders], captureLogs("warn"), { service: { name: "flt", version: "1.0.0" } });
      const ask = async (id: number, type?: string) =>
        app.broker.request<string>("flt.orders.events", { id }, type === undefined ? {} : { headers: { type } });
      expect(await ask(1, "created")).toBe("created");
      expect(await ask(2, "updated")).toBe("updated");
      expect(await ask(3, "patched")).toBe("updated");
      expect(await ask(4, "deleted")).toBe("other");
      expect(await ask(5)).toBe("other");
      // Without a reply subject too.
      app.broker.publish("flt.orders.events", { id: 6 }, { headers: { type: "created" } });
      await waitFor("the published message", () => seen.length === 6);
      expect(seen).toEqual(["created:1", "updated:2", "updated:3", "other:4:deleted", "other:5:-", "created:6"]);
      // Each handler is its own operation on the shared channel, its filter described; the document stays valid.
      const doc = await app.asyncapi();
      const ajv = new Ajv({ strict: false, allErrors: true, meta: false, validateSchema: false, logger: false });
      expect(ajv.validate(specs.schemas["3.0.0"] as object, doc) ? [] : ajv.errors).toEqual([]);
      expect(Object.values(doc.channels as Record<string, { address: string }>).filter((c) => c.address === "flt.orders.events")).toHaveLength(1);
      const ops = doc.operations as Record<string, Record<string, unknown>>;
      expect(Object.keys(ops).filter((k) => k.startsWith("Orders_"))).toHaveLength(3);
      expect(Object.values(ops).map((o) => o["x-natsflow-filter"])).toEqual(
        expect.arrayContaining([{ headers: { type: ["created"] } }, { headers: { type: ["updated", "patched"] } }]),
      );
      // Metrics per handler.
      const counted = (await app.metrics.messages.get()).values.filter((v) => v.labels.result === "ok");
      const ok = Object.fromEntries(counted.map((v) => [v.labels.handler, v.value]));
      expect(ok).toMatchObject({ "Orders.created": 2, "Orders.updated": 2, "Orders.other": 2 });
      // One subscription, so one micro endpoint: named by its handlers, counting every request it answered.
      const info = await client.request("$SRV.STATS.flt", new Uint8Array(0), { timeoutMs: 2_000 });
      const endpoints = (JSON.parse(dec.decode(info.data)) as { endpoints: Array<{ name: string; subject: string; num_requests: number }> }).endpoints;
      expect(endpoints).toEqual([expect.objectContaining({ name: "Orders-created-Orders-other-Orders-updated", subject: "flt.orders.events", num_requests: 6 })]);
    });

    it("routes by a predicate on the payload decoded with each handler's schema; a payload its schema refuses does not match it", async () => {
      const Big = z.object({ kind: z.literal("order"), total: z.number() });
      @Controller("flt.pred")
      class Pred {
        @Subscribe("in", { schema: Big, filter: (p: { total: number }) => p.total >= 100 })
        big(@Payload() p: z.infer<typeof Big>) {
          return `big:${p.total}`;
        }

        @Subscribe("in", { codec: "string", filter: (text: string, ctx) => text.startsWith("ping") && ctx.message.subject === "flt.pred.in" })
        ping(@Payload() text: string) {
          return `ping:${text.length}`;
        }

        @Subscribe("in", { codec: "string" })
        rest(@Payload() text: string) {
          return `rest:${text}`;
        }
      }
      const app = await startApp([Pred]);
      const raw = async (body: string) => dec.decode((await client.request("flt.pred.in", new TextEncoder().encode(body), { timeoutMs: 2_000 })).data);
      expect(JSON.parse(await raw(JSON.stringify({ kind: "order", total: 250 })))).toBe("big:250");
      // Valid for `big`'s schema, but its predicate says no.
      // The string codec's replies are the text itself.
      expect(await raw(JSON.stringify({ kind: "order", total: 5 }))).toBe('rest:{"kind":"order","total":5}');
      // Not JSON, so not valid for `big`: falls through to `ping`, then `rest`.
      expect(await raw("ping!")).toBe("ping:5");
      expect(await raw("hello")).toBe("rest:hello");
      expect(app.handlers.map((h) => h.name)).toEqual(["Pred.big", "Pred.ping", "Pred.rest"]);
    });

    it("answers a request no handler matches with 404, and counts and logs a message without a reply", async () => {
      let ran = 0;
      @Controller("flt.only")
      class Only {
        @Subscribe("in", { filter: { headers: { type: "a" } } })
        a() {
          ran++;
          return "a";
        }

        @Subscribe("in", { filter: (p: { n: number }) => p.n > 0 })
        positive() {
          ran++;
          return "positive";
        }
      }
      const logs = captureLogs("warn");
      const app = await startApp([Only], logs);
      expect(await app.broker.request("flt.only.in", { n: 1 })).toBe("positive");
      const failed = await app.broker.request("flt.only.in", { n: -1 }).catch((e: unknown) => e);
      expect(failed).toBeInstanceOf(ServiceError);
      expect(failed).toMatchObject({ code: 404, description: "no handler matches this message" });
      const before = ran;
      app.broker.publish("flt.only.in", { n: 0 });
      await waitFor("the unmatched log line", () => logs.lines.filter((l) => l.includes("no handler matches this message")).length >= 2);
      expect(ran).toBe(before);
      const unmatched = (await app.metrics.messages.get()).values.filter((v) => v.labels.result === "unmatched");
      expect(unmatched.reduce((n, v) => n + v.value, 0)).toBe(2);
      // A run-time handler with a filter: what it declines is unmatched too.
      await app.subscribe("flt.only.runtime", { filter: { headers: { type: "a" } } }, () => "runtime");
      expect(await app.broker.request("flt.only.runtime", null, { headers: { type: "a" } })).toBe("runtime");
      await expect(app.broker.request("flt.only.runtime", null)).rejects.toMatchObject({ code: 404 });
    });

    it("routes one durable's messages by header to three handlers, each message to exactly one, acked once", async () => {
      const stream = defineStream({ name: "FLT_JS", subjects: ["flt-js.>"] });
      const seen: string[] = [];
      const on = { stream, durable: "flt-orders", ackWait: "1s" } as const;
      @Controller()
      class Jobs {
        @Consume("flt-js.orders", { ...on, filter: { headers: { type: "created" } } })
        created(@Payload() p: { id: number }) {
          seen.push(`created:${p.id}`);
        }

        @Consume("flt-js.orders", { ...on, filter: { headers: { type: "updated" } } })
        updated(@Payload() p: { id: number }) {
          seen.push(`updated:${p.id}`);
        }

        @Consume("flt-js.orders", on)
        other(@Payload() p: { id: number }) {
          seen.push(`other:${p.id}`);
        }
      }
      const app = await startApp([Jobs]);
      await app.broker.jetstream.publish("flt-js.orders", { id: 1 }, { headers: { type: "updated" } });
      await app.broker.jetstream.publish("flt-js.orders", { id: 2 }, { headers: { type: "created" } });
      await app.broker.jetstream.publish("flt-js.orders", { id: 3 });
      await app.broker.jetstream.publish("flt-js.orders", { id: 4 }, { headers: { type: "created" } });
      await waitFor("four messages", () => seen.length >= 4);
      await sleep(1_300); // past ack wait: a redelivery would have shown by now
      expect([...seen].sort()).toEqual(["created:2", "created:4", "other:3", "updated:1"]);
      const acks = (await app.metrics.jetstream.get()).values.filter((v) => v.labels.outcome === "ack");
      expect(Object.fromEntries(acks.map((v) => [v.labels.handler, v.value]))).toMatchObject({ "Jobs.created": 2, "Jobs.updated": 1, "Jobs.other": 1 });
    });

    it("terminates and dead-letters a JetStream message no handler matches, never redelivered", async () => {
      const stream = defineStream({ name: "FLT_JS_DL", subjects: ["flt-dl.>"] });
      const seen: number[] = [];
      const on = { stream, durable: "flt-dl", ackWait: "1s" as const, retry: { backoffMs: [50], maxDeliver: 4 }, deadLetter: "flt-dl-dlq" };
      @Controller()
      class Picky {
        @Consume("flt-dl.jobs", { ...on, filter: { headers: { type: "a" } } })
        a(@Payload() p: { id: number }) {
          seen.push(p.id);
        }

        @Consume("flt-dl.jobs", { ...on, filter: (p: { id: number }) => p.id > 100 })
        big(@Payload() p: { id: number }) {
          seen.push(p.id);
        }
      }
      const dlq = collect("flt-dl-dlq");
      const app = await startApp([Picky]);
      await app.broker.jetstream.publish("flt-dl.jobs", { id: 1 }, { headers: { type: "a" } });
      await app.broker.jetstream.publish("flt-dl.jobs", { id: 2 }, { headers: { type: "b" } });
      await app.broker.jetstream.publish("flt-dl.jobs", { id: 300 });
      await waitFor("the dead letter", () => dlq.length >= 1 && seen.length >= 2);
      await sleep(1_300);
      expect(seen.sort((x, y) => x - y)).toEqual([1, 300]);
      expect(dlq).toHaveLength(1);
      expect(JSON.parse(dec.decode(dlq[0]!.data))).toEqual({ id: 2 });
      expect(dlq[0]!.headers?.get(DEAD_LETTER_ERROR_HEADER)).toBe("NoMatchError: no handler matches this message");
      const term = (await app.metrics.jetstream.get()).values.filter((v) => v.labels.outcome === "term");
      expect(term.reduce((n, v) => n + v.value, 0)).toBe(1);
    });

    it("still refuses two unfiltered handlers on one subject and queue, or on one durable; handlers sharing one must agree", async () => {
      @Controller()
      class TwoDefaults {
        @Subscribe("flt.twice", { queue: "q" })
        a() {}

        @Subscribe("flt.twice", { queue: "q", filter: { headers: { x: "1" } } })
        b() {}

        @Subscribe("flt.twice", { queue: "q" })
        c() {}
      }
      await expect(NatsApp.create({ ...env.appOptions(), controllers: [TwoDefaults] })).rejects.toThrow(/TwoDefaults\.c: listens on "flt\.twice" in queue "q" like TwoDefaults\.a/);

      const stream = defineStream({ name: "FLT_REFUSE", subjects: ["flt-refuse.>"] });
      @Controller()
      class TwoDurables {
        @Consume("flt-refuse.x", { stream, durable: "d" })
        a() {}

        @Consume("flt-refuse.x", { stream, durable: "d" })
        b() {}
      }
      await expect(NatsApp.create({ ...env.appOptions(), controllers: [TwoDurables] })).rejects.toThrow(/TwoDurables\.b durable: "d" on stream FLT_REFUSE is also used by TwoDurables\.a/);

      @Controller()
      class OtherSubject {
        @Consume("flt-refuse.x", { stream, durable: "d2", filter: { headers: { t: "1" } } })
        a() {}

        @Consume("flt-refuse.y", { stream, durable: "d2" })
        b() {}
      }
      await expect(NatsApp.create({ ...env.appOptions(), controllers: [OtherSubject] })).rejects.toThrow(/OtherSubject\.b durable: "d2" on stream FLT_REFUSE is also used by OtherSubject\.a/);

      @Controller()
      class Disagree {
        @Subscribe("flt.limits", { concurrency: 4, filter: { headers: { t: "1" } } })
        a() {}

        @Subscribe("flt.limits")
        b() {}
      }
      @Controller()
      class NoHeaders {
        @Subscribe("flt.bad", { filter: { headers: {} } })
        a() {}
      }
      await expect(NatsApp.create({ ...env.appOptions(), controllers: [NoHeaders] })).rejects.toThrow(/NoHeaders\.a filter headers: names no header/);
      @Controller()
      class NotText {
        @Subscribe("flt.bad", { filter: { headers: { t: 5 as unknown as string } } })
        a() {}
      }
      await expect(NatsApp.create({ ...env.appOptions(), controllers: [NotText] })).rejects.toThrow(/NotText\.a filter headers\.t: must be a string or a non-empty array of strings/);

      await expect(NatsApp.create({ ...env.appOptions(), controllers: [Disagree] })).rejects.toThrow(
        /Disagree\.b concurrency: is 64, but Disagree\.a, which reads the same source, has 4\./,
      );
    });

    // Last: registering an OpenTelemetry SDK turns tracing on for the apps started after it.
    it("names the handler its filter chose on the message's span", async () => {
      const spans = captureSpans();
      @Controller("flt.traced")
      class Traced {
        @Subscribe("in", { filter: { headers: { type: "a" } } })
        a() {
          return "a";
        }

        @Subscribe("in")
        b() {
          return "b";
        }
      }
      const app = await startApp([Traced]);
      expect(await app.broker.request("flt.traced.in", null, { headers: { type: "a" } })).toBe("a");
      expect(await app.broker.request("flt.traced.in", null)).toBe("b");
      await waitFor("the spans", () => spans.find(/^process flt\.traced\.in$/).length === 2);
      expect(spans.find(/^process flt\.traced\.in$/).map((s) => s.attributes["natsflow.handler"])).toEqual(["Traced.a", "Traced.b"]);
    });
  });
}
