/**
 * OpenTelemetry through a registered SDK with an in-memory exporter, run against the in-memory
 * TestBroker and a real nats-server (tracing.memory.test.ts, tracing.server.test.ts): one trace from
 * a client through a handler, its `@Publish` and the handler of that event; the messaging attributes;
 * errors; and trace context on replies.
 */
import "reflect-metadata";

import { context, propagation, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import {
  Broker,
  Consume,
  Controller,
  definePublisher,
  defineStream,
  InjectPublisher,
  HandlerError,
  InvalidSubjectError,
  NatsApp,
  Param,
  Payload,
  Publish,
  Subscribe,
  type Publisher,
  type Transport,
} from "@natsflow/core";
import { captureLogs, captureSpans, registerSecret } from "@natsflow/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import type { SuiteEnvironment } from "./handler-suite.js";

const enc = new TextEncoder();
const dec = new TextDecoder();

export function tracingSuite(name: string, setup: () => Promise<SuiteEnvironment>): void {
  describe(`tracing on ${name}`, () => {
    const spans = captureSpans();
    let env: SuiteEnvironment;
    let app: NatsApp;
    let client: Transport;
    const audited: string[] = [];

    @Controller("traced.orders")
    class Orders {
      constructor(private readonly broker: Broker) {}

      @Subscribe("{id}.place", { queue: "orders" })
      @Publish("traced.audit.placed")
      place(@Param("id") id: string, @Payload() body: { password?: string }) {
        // A secret in the payload never reaches a span: only its size does.
        return { id, placed: true, hasPassword: body.password !== undefined };
      }

      @Subscribe("{id}.missing")
      missing(@Param("id") id: string): never {
        throw new HandlerError(`order ${id} not found`, 404);
      }

      @Subscribe("crash")
      crash(): never {
        throw new Error("db password=hunter2-in-a-message");
      }

      @Subscribe("{id}.check")
      async check(@Param("id") id: string) {
        return this.broker.request("traced.orders." + id + ".missing", null).catch((e: unknown) => ({ failed: (e as Error).message }));
      }
    }

    const EVENTS = defineStream({ name: "TRACED", subjects: ["traced.events.>"], storage: "memory" });
    @Controller("traced.events")
    class Billing {
      @Consume("created", { stream: EVENTS, durable: "billing" })
      bill() {}

      @Consume("batched", { stream: EVENTS, durable: "ledger", batch: { max: 3 } })
      ledger() {}
    }

    @Controller("traced.audit")
    class Audit {
      @Subscribe("placed")
      placed(@Payload() order: { id: string }) {
        audited.push(order.id);
      }
    }

    beforeAll(async () => {
      registerSecret("hunter2-in-a-message");
      registerSecret("s3cret-passw0rd");
      env = await setup();
      app = await NatsApp.create({ ...env.appOptions(), controllers: [Orders, Audit, Billing], logger: captureLogs("fatal").logger });
      await app.start();
      client = await env.client();
    });
    afterAll(async () => {
      await client?.close();
      await app?.stop();
      await env?.stop();
    });

    /** A request from inside a client span, its trace context injected as a traced client would. */
    const tracedRequest = async (subject: string, body: unknown) => {
      const parent = trace.getTracer("test-client").startSpan("client", { kind: SpanKind.CLIENT });
      const headers: Record<string, string> = {};
      propagation.inject(trace.setSpan(context.active(), parent), headers);
      try {
        return { reply: await client.request(subject, enc.encode(JSON.stringify(body)), { timeoutMs: 2_000, headers }), parent };
      } finally {
        parent.end();
      }
    };

    it("starting an app exports no span of its own; its messages are traced", async () => {
      @Controller("traced.quiet")
      class Quiet {
        @Subscribe("ping", { codec: "string" })
        ping() {
          return "pong";
        }
      }
      spans.reset();
      // Tracing left to the SDK check (not forced): on, since captureSpans registered one.
      const quiet = await NatsApp.create({ ...env.appOptions(), controllers: [Quiet], logger: captureLogs("fatal").logger });
      await quiet.start();
      try {
        expect(spans.spans().map((s) => s.name)).toEqual([]);
        await client.request("traced.quiet.ping", enc.encode(""), { timeoutMs: 2_000 });
        await expect.poll(() => spans.spans().map((s) => s.name)).toEqual(["process traced.quiet.ping"]);
      } finally {
        await quiet.stop();
      }
    });

    it("makes no span for a send it refuses: an invalid subject never names a span", async () => {
      spans.reset();
      const bad = "traced.audit.x\r\nPUB admin.x 1";
      expect(() => app.broker.publish(bad, 1)).toThrow(InvalidSubjectError);
      await expect(app.broker.request(bad, 1)).rejects.toBeInstanceOf(InvalidSubjectError);
      await expect(app.broker.jetstream.publish(bad, 1)).rejects.toBeInstanceOf(InvalidSubjectError);
      app.broker.publish("traced.audit.marker", { id: "m" });
      await expect.poll(() => spans.spans().length).toBeGreaterThan(0);
      expect(spans.spans().filter((s) => /[\r\n]/.test(s.name) || s.name.includes("admin"))).toEqual([]);
    });

    it("client → handler → @Publish → second handler is one trace with the right parents", async () => {
      spans.reset();
      const { reply, parent } = await tracedRequest("traced.orders.7.place", { password: "s3cret-passw0rd" });
      expect(JSON.parse(dec.decode(reply.data))).toEqual({ id: "7", placed: true, hasPassword: true });
      await expect.poll(() => spans.find(/^process traced\.audit\.placed$/).length).toBe(1);
      const [handled] = spans.find(/^process traced\.orders\.\*\.place$/);
      const [sent] = spans.find(/^send traced\.audit\.placed$/);
      const [audit] = spans.find(/^process traced\.audit\.placed$/);
      const traceId = parent.spanContext().traceId;
      expect([handled, sent, audit].map((s) => s?.spanContext().traceId)).toEqual([traceId, traceId, traceId]);
      expect(handled?.parentSpanContext?.spanId).toBe(parent.spanContext().spanId);
      expect(sent?.parentSpanContext?.spanId).toBe(handled?.spanContext().spanId);
      expect(audit?.parentSpanContext?.spanId).toBe(sent?.spanContext().spanId);
      expect(handled?.kind).toBe(SpanKind.CONSUMER);
      expect(sent?.kind).toBe(SpanKind.PRODUCER);
      expect(handled?.attributes).toMatchObject({
        "messaging.system": "nats",
        "messaging.operation.type": "process",
        "messaging.destination.name": "traced.orders.7.place",
        "messaging.destination.template": "traced.orders.*.place",
        "messaging.consumer.group.name": "orders",
        "natsflow.handler": "Orders.place",
        "messaging.message.body.size": JSON.stringify({ password: "s3cret-passw0rd" }).length,
      });
      expect(sent?.attributes).toMatchObject({ "messaging.operation.type": "send", "messaging.destination.name": "traced.audit.placed" });
      // The reply carries the handler span's trace context.
      expect(reply.headers?.get("traceparent")).toContain(handled?.spanContext().spanId);
      expect(audited).toContain("7");
    });

    it("a declared publisher's send through outgoing middleware is the same trace: handler → send → the event's handler", async () => {
      const PLACED = definePublisher<{ id: string }>("traced.audit.placed");
      @Controller("traced.via")
      class Via {
        constructor(@InjectPublisher(PLACED) private readonly placed: Publisher<{ id: string }>) {}

        @Subscribe("{id}.place")
        async place(@Param("id") id: string) {
          await this.placed.publish({ id });
          return { id };
        }
      }
      const seen: string[] = [];
      const via = await NatsApp.create({
        ...env.appOptions(),
        controllers: [Via],
        outgoingMiddleware: [
          async (m, next) => {
            seen.push(String(m.headers.traceparent ?? "none"));
            await next();
          },
        ],
        logger: captureLogs("fatal").logger,
      });
      await via.start();
      try {
        spans.reset();
        const { parent } = await tracedRequest("traced.via.8.place", {});
        await expect.poll(() => spans.find(/^process traced\.audit\.placed$/).length).toBe(1);
        const [handled] = spans.find(/^process traced\.via\.\*\.place$/);
        const [sent] = spans.find(/^send traced\.audit\.placed$/);
        const [audit] = spans.find(/^process traced\.audit\.placed$/);
        const traceId = parent.spanContext().traceId;
        expect([handled, sent, audit].map((s) => s?.spanContext().traceId)).toEqual([traceId, traceId, traceId]);
        expect(sent?.parentSpanContext?.spanId).toBe(handled?.spanContext().spanId);
        expect(audit?.parentSpanContext?.spanId).toBe(sent?.spanContext().spanId);
        // The middleware runs before the send's span exists: it sees no trace context yet.
        expect(seen).toEqual(["none"]);
        expect(audited).toContain("8");
      } finally {
        await via.stop();
      }
    });

    it("marks failures with the reply's code and safe text, never the raw error", async () => {
      spans.reset();
      await tracedRequest("traced.orders.9.missing", {});
      await tracedRequest("traced.orders.crash", {});
      const [missing] = spans.find(/missing$/);
      const [crash] = spans.find(/crash$/);
      expect(missing?.status).toEqual({ code: SpanStatusCode.ERROR, message: "order 9 not found" });
      expect(missing?.attributes).toMatchObject({ "error.type": "HandlerError", "natsflow.reply.code": 404 });
      expect(crash?.status).toEqual({ code: SpanStatusCode.ERROR, message: "internal error" });
      expect(crash?.attributes).toMatchObject({ "error.type": "Error", "natsflow.reply.code": 500 });
      expect(crash?.events).toEqual([]);
    });

    it("a nested Broker.request is a client span under the handler's, and the callee's span under it", async () => {
      spans.reset();
      await tracedRequest("traced.orders.5.check", {});
      await expect.poll(() => spans.find(/^process traced\.orders\.\*\.missing$/).length).toBe(1);
      const [outer] = spans.find(/check$/);
      const [request] = spans.find(/^send traced\.orders\.5\.missing$/);
      const [inner] = spans.find(/^process traced\.orders\.\*\.missing$/);
      expect(request?.kind).toBe(SpanKind.CLIENT);
      expect(request?.parentSpanContext?.spanId).toBe(outer?.spanContext().spanId);
      expect(inner?.parentSpanContext?.spanId).toBe(request?.spanContext().spanId);
    });

    it("a JetStream publish carries the trace into the stream; the consumer's span is its child", async () => {
      spans.reset();
      const parent = trace.getTracer("test-client").startSpan("producer job");
      await context.with(trace.setSpan(context.active(), parent), () => app.broker.jetstream.publish("traced.events.created", { id: "e-1" }));
      parent.end();
      await expect.poll(() => spans.find(/^process traced\.events\.created$/).length).toBe(1);
      const [send] = spans.find(/^send traced\.events\.created$/);
      const [consumed] = spans.find(/^process traced\.events\.created$/);
      expect(send?.parentSpanContext?.spanId).toBe(parent.spanContext().spanId);
      expect(consumed?.parentSpanContext?.spanId).toBe(send?.spanContext().spanId);
      expect(consumed?.attributes).toMatchObject({ "natsflow.jetstream.stream": "TRACED", "natsflow.jetstream.consumer": "billing", "natsflow.jetstream.deliveries": 1 });
    });

    it("a batch is one span of its own, linked to each message's trace", async () => {
      spans.reset();
      for (const id of ["b-1", "b-2", "b-3"]) {
        const parent = trace.getTracer("test-client").startSpan(`producer ${id}`);
        await context.with(trace.setSpan(context.active(), parent), () => app.broker.jetstream.publish("traced.events.batched", { id }));
        parent.end();
      }
      await expect.poll(() => spans.find(/^process traced\.events\.batched$/).length).toBe(1);
      const sends = spans.find(/^send traced\.events\.batched$/);
      const [batch] = spans.find(/^process traced\.events\.batched$/);
      expect(batch?.parentSpanContext).toBeUndefined();
      expect(batch?.links.map((l) => l.context.spanId).sort()).toEqual(sends.map((s) => s.spanContext().spanId).sort());
      expect(batch?.attributes).toMatchObject({ "messaging.batch.message_count": 3, "natsflow.jetstream.stream": "TRACED", "natsflow.jetstream.consumer": "ledger" });
    });
  });
}
