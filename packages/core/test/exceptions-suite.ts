/**
 * Exception handlers by error class at app, router, controller and method level, run against the
 * in-memory TestBroker and against a real nats-server with JetStream (exceptions.memory.test.ts,
 * exceptions.server.test.ts): replies for requests, settlements for a `@Consume` consumer.
 */
import "reflect-metadata";

import {
  Catch,
  catchErrors,
  Consume,
  Controller,
  defineRouter,
  defineStream,
  Delivery,
  HandlerError,
  NatsApp,
  Payload,
  ServiceError,
  SetupError,
  Subscribe,
  type InboundMessage,
  type JetStreamDelivery,
  type Transport,
} from "@natsflow/core";
import { captureLogs } from "@natsflow/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import type { SuiteEnvironment } from "./handler-suite.js";


const enc = new TextEncoder();

class NotFoundError extends Error {}
class ConflictError extends Error {}
class TransientError extends Error {}
class PoisonError extends Error {}
class TeapotError extends NotFoundError {}

const thrown: Record<string, () => Error> = {
  missing: () => new NotFoundError("order 7 not found"),
  conflict: () => new ConflictError("order 7 changed"),
  teapot: () => new TeapotError("short and stout"),
  plain: () => new Error("db password is hunter2"),
};

@Controller()
class AppLevel {
  @Subscribe("top.{what}")
  top() {
    throw new NotFoundError("nothing at the top");
  }
}

@Controller("orders")
@Catch(catchErrors(ConflictError, () => ({ code: 409, description: "controller conflict" })))
class Orders {
  @Subscribe("fail.{what}")
  fail(payload: { what: string }) {
    throw thrown[payload.what]?.() ?? new Error("unknown");
  }

  // Within a level the first match in declaration order wins: Error before NotFoundError.
  @Subscribe("first")
  @Catch(
    catchErrors(Error, () => ({ code: 418, description: "first match" })),
    catchErrors(NotFoundError, () => ({ code: 404 })),
  )
  first() {
    throw new NotFoundError("x");
  }

  // A handler may throw another error, answered as any error is; or return nothing, leaving the error as it was.
  @Subscribe("rethrow")
  @Catch(catchErrors(NotFoundError, () => {
    throw new HandlerError("try again later", 503);
  }))
  rethrow() {
    throw new NotFoundError("x");
  }

  @Subscribe("pass")
  @Catch(catchErrors(NotFoundError, () => undefined))
  pass() {
    throw new Error("db password is hunter2");
  }
}

@Controller("other")
class Other {
  @Subscribe("conflict")
  conflict() {
    throw new ConflictError("c");
  }
}

const JOBS = defineStream({ name: "EXC_JOBS", subjects: ["exc.jobs.>"] });
const deliveries: Array<{ job: string; count: number; at: number }> = [];
const NAK_DELAY_MS = 300;

@Controller("jobs")
class Jobs {
  // The default policy would wait 10 s before redelivering: the exception handler's delay is what runs.
  @Consume("run", { stream: JOBS, durable: "exc-jobs", retry: { backoffMs: [10_000] }, deadLetter: "exc.dead" })
  run(@Payload() payload: { job: string; fail: "transient" | "poison" }, @Delivery() delivery: JetStreamDelivery) {
    deliveries.push({ job: payload.job, count: delivery.deliveries, at: Date.now() });
    if (payload.fail === "poison") throw new PoisonError(`poison ${payload.job}`);
    if (delivery.deliveries === 1) throw new TransientError("database busy");
  }
}

const shop = defineRouter({
  prefix: "exc",
  controllers: [Orders, Other, Jobs],
  exceptionHandlers: [
    catchErrors(ConflictError, () => ({ code: 409, description: "router conflict", headers: { "X-Level": "router" } })),
    catchErrors(TransientError, () => ({ settle: "nak", delayMs: NAK_DELAY_MS })),
    catchErrors(PoisonError, () => ({ settle: "dead-letter" })),
  ],
});

export function exceptionSuite(name: string, setup: () => Promise<SuiteEnvironment>): void {
  describe(`exception handlers on ${name}`, () => {
    let env: SuiteEnvironment;
    let client: Transport;
    let app: NatsApp;

    beforeAll(async () => {
      env = await setup();
      client = await env.client();
      app = await NatsApp.create({
        ...env.appOptions(),
        logger: captureLogs("error").logger,
        controllers: [AppLevel],
        routers: [shop],
        exceptionHandlers: [
          catchErrors(NotFoundError, (err) => ({ code: 404, description: err.message })),
          catchErrors(ConflictError, () => ({ code: 409, description: "app conflict" })),
        ],
      });
      await app.start();
    });
    afterAll(async () => {
      await app?.stop();
      await client?.close();
      await env?.stop();
    });

    const failure = async (subject: string, payload: unknown = {}) => {
      const m = await client.request(subject, enc.encode(JSON.stringify(payload)), { timeoutMs: 5000 });
      return { code: m.headers?.get("Nats-Service-Error-Code"), description: m.headers?.get("Nats-Service-Error"), level: m.headers?.get("X-Level") };
    };

    it("turns NotFoundError into a 404 reply with its message, at app level and for a subclass", async () => {
      expect(await failure("top.x")).toEqual({ code: "404", description: "nothing at the top", level: undefined });
      expect(await failure("exc.orders.fail.missing", { what: "missing" })).toEqual({ code: "404", description: "order 7 not found", level: undefined });
      expect(await failure("exc.orders.fail.teapot", { what: "teapot" })).toEqual({ code: "404", description: "short and stout", level: undefined });
      // A Broker caller sees it as a ServiceError with the code.
      const error = await app.broker.request("top.x", {}).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ServiceError);
      expect((error as ServiceError).code).toBe(404);
    });

    it("takes the nearest level: method, then controller, then router, then app", async () => {
      expect(await failure("exc.orders.fail.conflict", { what: "conflict" })).toEqual({ code: "409", description: "controller conflict", level: undefined });
      expect(await failure("exc.other.conflict")).toEqual({ code: "409", description: "router conflict", level: "router" });
      expect(await failure("exc.orders.first")).toEqual({ code: "418", description: "first match", level: undefined });
    });

    it("answers what a handler rethrows, and keeps the safe 500 for what none handles", async () => {
      expect(await failure("exc.orders.rethrow")).toEqual({ code: "503", description: "try again later", level: undefined });
      expect(await failure("exc.orders.pass")).toEqual({ code: "500", description: "internal error", level: undefined });
      expect(await failure("exc.orders.fail.plain", { what: "plain" })).toEqual({ code: "500", description: "internal error", level: undefined });
    });

    it("naks a TransientError in a consumer with the configured delay: delivered twice, the second time succeeds", async () => {
      await app.broker.jetstream.publish("exc.jobs.run", { job: "a", fail: "transient" });
      const until = Date.now() + 5_000;
      while (deliveries.filter((d) => d.job === "a").length < 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      const seen = deliveries.filter((d) => d.job === "a");
      expect(seen.map((d) => d.count)).toEqual([1, 2]);
      expect((seen[1]?.at ?? 0) - (seen[0]?.at ?? 0)).toBeGreaterThanOrEqual(NAK_DELAY_MS - 50);
    });

    it("dead-letters what its exception handler says, once, without retrying", async () => {
      const dead: InboundMessage[] = [];
      client.subscribe("exc.dead", {}, (m) => dead.push(m));
      await client.flush();
      await app.broker.jetstream.publish("exc.jobs.run", { job: "b", fail: "poison" });
      const until = Date.now() + 5_000;
      while (dead.length === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      expect(dead).toHaveLength(1);
      expect(deliveries.filter((d) => d.job === "b").map((d) => d.count)).toEqual([1]);
    });

    it("refuses something that is not an exception handler, naming the setting", async () => {
      const error = await NatsApp.create({ ...env.appOptions(), exceptionHandlers: [(() => 404) as never] }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SetupError);
      expect((error as Error).message).toContain("exceptionHandlers[0]");
    });
  });
}
