/**
 * The app's lifecycle — hooks, the drain at stop, runtime subscriptions, subscription health and the
 * default bound on waiting messages — run on the TestBroker and on a real nats-server
 * (lifecycle.memory.test.ts, lifecycle.server.test.ts), so the two cannot drift.
 */
import "reflect-metadata";

import {
  Broker,
  Controller,
  DEFAULT_MAX_PENDING,
  injectable,
  NatsApp,
  NoRespondersError,
  Payload,
  SetupError,
  Subscribe,
  type BeforeShutdown,
  type InboundMessage,
  type Middleware,
  type NatsAppOptions,
  type OnReady,
  type OnShutdown,
  type OnStartup,
  type Transport,
} from "@natsflow/core";
import { captureLogs } from "@natsflow/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";

export interface LifecycleEnvironment {
  /** Connection settings for an app under test. */
  appOptions(): Partial<NatsAppOptions>;
  /** Another connection, allowed everything. */
  client(): Promise<Transport>;
  /** Subjects under this prefix the app may not subscribe to. */
  readonly deniedPrefix: string;
  stop(): Promise<void>;
}

const enc = new TextEncoder();
const dec = new TextDecoder();
const text = (m: InboundMessage) => dec.decode(m.data);
const errorCode = (m: InboundMessage) => m.headers?.get("Nats-Service-Error-Code");

export function lifecycleSuite(name: string, makeEnvironment: () => Promise<LifecycleEnvironment>): void {
  describe(`the app's lifecycle on ${name}`, () => {
    let env: LifecycleEnvironment;
    let client: Transport;

    beforeAll(async () => {
      env = await makeEnvironment();
      client = await env.client();
    });

    afterAll(async () => {
      await client?.close();
      await env?.stop();
    });

    const create = (options: Partial<NatsAppOptions>) => NatsApp.create({ ...env.appOptions(), logger: captureLogs().logger, ...options });
    const request = (subject: string, body = "", timeoutMs = 2000) => client.request(subject, enc.encode(body), { timeoutMs });

    it("runs the hooks in order: onStartup, onReady connected, beforeShutdown still connected, onShutdown after the drain", async () => {
      const events: string[] = [];
      const seen: string[] = [];
      const watcher = await env.client();
      watcher.subscribe("lifecycle.announce.>", {}, (m) => seen.push(`${m.subject}:${text(m)}`));
      await watcher.flush();

      @injectable()
      class Registry implements OnStartup, OnReady, BeforeShutdown, OnShutdown {
        constructor(private readonly broker: Broker) {}
        onStartup() {
          events.push("registry startup");
        }
        onReady() {
          events.push("registry ready");
          this.broker.publish("lifecycle.announce.up", "hello");
        }
        async beforeShutdown() {
          events.push("registry before shutdown");
          // Still connected, and still serving: a request to the app itself is answered.
          const reply = await this.broker.requestMessage("lifecycle.hooks.ping", "", { codec: "string" });
          this.broker.publish("lifecycle.announce.down", `bye after ${dec.decode(reply.data)}`);
        }
        onShutdown() {
          events.push("registry shutdown");
        }
      }
      @Controller("lifecycle.hooks")
      class Hooks implements OnStartup, OnReady, BeforeShutdown, OnShutdown {
        constructor(readonly registry: Registry) {}
        onStartup() {
          events.push("controller startup");
        }
        onReady() {
          events.push("controller ready");
        }
        beforeShutdown() {
          events.push("controller before shutdown");
        }
        onShutdown() {
          events.push("controller shutdown");
        }
        @Subscribe("ping", { codec: "string" })
        ping() {
          return "pong";
        }
      }
      const app = await create({ controllers: [Hooks], providers: [Registry] });
      await app.start();
      expect(app.isReady).toBe(true);
      expect(text(await request("lifecycle.hooks.ping"))).toBe("pong");
      await app.stop();
      expect(events).toEqual([
        "registry startup",
        "controller startup",
        "registry ready",
        "controller ready",
        "controller before shutdown",
        "registry before shutdown",
        "controller shutdown",
        "registry shutdown",
      ]);
      await expect.poll(() => seen).toEqual(["lifecycle.announce.up:hello", "lifecycle.announce.down:bye after pong"]);
      await watcher.close();
    });

    it("fails start() when an onReady hook throws, and leaves nothing running", async () => {
      const events: string[] = [];
      @Controller("lifecycle.unready")
      class Unready implements OnReady, OnShutdown {
        onReady() {
          throw new Error("cannot announce");
        }
        onShutdown() {
          events.push("shutdown");
        }
        @Subscribe("ping", { codec: "string" })
        ping() {
          return "pong";
        }
      }
      const app = await create({ controllers: [Unready] });
      await expect(app.start()).rejects.toThrow("cannot announce");
      expect(app.isRunning).toBe(false);
      expect(app.isReady).toBe(false);
      // Unsubscribed and closed: nobody answers (once the server has noticed the closed connection),
      // and the app's Broker is not connected.
      await expect.poll(() => request("lifecycle.unready.ping", "", 500).then(() => "answered", (e: unknown) => e), { timeout: 5_000 }).toBeInstanceOf(NoRespondersError);
      expect(() => app.broker.publish("x", "y")).toThrow(/not connected/);
      await app.stop();
      expect(events).toEqual([]);
    });

    it("logs a failing beforeShutdown hook and stops anyway", async () => {
      const logs = captureLogs();
      const events: string[] = [];
      class Flaky implements BeforeShutdown, OnShutdown {
        beforeShutdown() {
          throw new Error("goodbye lost");
        }
        onShutdown() {
          events.push("shutdown");
        }
      }
      @Controller("lifecycle.flaky")
      class FlakyController {
        constructor(readonly flaky: Flaky) {}
        @Subscribe("ping")
        ping() {
          return "pong";
        }
      }
      const app = await NatsApp.create({ ...env.appOptions(), logger: logs.logger, controllers: [FlakyController], providers: [Flaky] });
      await app.start();
      await app.stop();
      expect(events).toEqual(["shutdown"]);
      expect(logs.find(/beforeShutdown failed/)).toMatchObject([{ level: 50, hook: "beforeShutdown", err: { message: "goodbye lost" } }]);
    });

    it("runs onShutdown hooks and the providers' disposal inside shutdownTimeoutMs: a stuck one is logged by name and left behind", async () => {
      const logs = captureLogs();
      const events: string[] = [];
      class Cache implements OnShutdown {
        onShutdown() {
          events.push("cache flushed");
        }
      }
      class StuckPool implements OnShutdown {
        onShutdown() {
          events.push("pool closing");
          return new Promise<void>(() => undefined);
        }
      }
      /** A provider tsyringe disposes (it has `dispose()`), whose disposal never ends. */
      class Leaky {
        dispose() {
          events.push("leaky disposing");
          return new Promise<void>(() => undefined);
        }
      }
      @Controller("lifecycle.stuck")
      class UsesThem {
        constructor(
          readonly cache: Cache,
          readonly pool: StuckPool,
          readonly leaky: Leaky,
        ) {}
        @Subscribe("ping")
        ping() {
          return 1;
        }
      }
      const budget = 300;
      const app = await NatsApp.create({ ...env.appOptions(), logger: logs.logger, controllers: [UsesThem], providers: [Cache, StuckPool, Leaky], shutdownTimeoutMs: budget });
      await app.start();
      // Settles: the budget, plus a margin for a busy machine; before, it never did.
      const outcome = await Promise.race([app.stop().then(() => "stopped"), new Promise((r) => setTimeout(() => r("still stopping"), budget + 5_000))]);
      expect(outcome).toBe("stopped");
      // In reverse creation order; the hook after the stuck one still ran.
      expect(events).toEqual(["pool closing", "cache flushed", "leaky disposing"]);
      expect(logs.find(/shutdown timeout/)).toMatchObject([
        { level: 40, hook: "StuckPool.onShutdown", msg: "shutdown timeout: StuckPool.onShutdown did not finish; stopping anyway" },
        { level: 40, msg: "shutdown timeout: disposing the app's providers did not finish; stopping anyway" },
      ]);
      expect(logs.find(/natsflow app stopped/)).toHaveLength(1);
    });

    it("answers every request the server delivered before stop(), with a slow handler and many in flight", async () => {
      @Controller("lifecycle.slow")
      class Slow {
        @Subscribe("work", { codec: "string", concurrency: 8 })
        async work(@Payload() n: string) {
          await new Promise((r) => setTimeout(r, 10));
          return `done ${n}`;
        }
      }
      const app = await create({ controllers: [Slow] });
      await app.start();
      const replies = Array.from({ length: 200 }, (_, i) => request("lifecycle.slow.work", String(i), 10_000));
      // Every request has reached the server, and so the app's subscription, before the stop.
      await client.flush();
      await app.stop();
      expect((await Promise.all(replies)).map(text)).toEqual(Array.from({ length: 200 }, (_, i) => `done ${i}`));
    });

    it("app.subscribe: a handler added at run time shares the middleware, the reply and errors, and the drain", async () => {
      const trail: string[] = [];
      const appMiddleware: Middleware = async (ctx, next) => {
        trail.push(`mw ${ctx.handler.name}`);
        await next();
      };
      @Controller("lifecycle.runtime")
      class Static {
        @Subscribe("static", { codec: "string" })
        s() {
          return "static";
        }
      }
      const app = await create({ controllers: [Static], middleware: [appMiddleware] });
      // Before start: subscribed by start().
      const early = await app.subscribe("lifecycle.runtime.early", { codec: "string" }, (text: string) => text.toUpperCase());
      await app.start();
      expect(text(await request("lifecycle.runtime.early", "hi"))).toBe("HI");
      const schema = z.object({ n: z.number() });
      const late = await app.subscribe("lifecycle.runtime.{id}.add", { schema, name: "adder" }, (body: { n: number }, ctx) => ({
        n: body.n + 1,
        subject: ctx.message.subject,
      }));
      expect(late).toMatchObject({ name: "adder", subject: "lifecycle.runtime.*.add" });
      expect(JSON.parse(text(await request("lifecycle.runtime.7.add", JSON.stringify({ n: 1 }))))).toEqual({ n: 2, subject: "lifecycle.runtime.7.add" });
      // The same stages as @Subscribe: a schema violation is a 400, a throw a 500.
      expect(errorCode(await request("lifecycle.runtime.7.add", JSON.stringify({ n: "one" })))).toBe("400");
      const failing = await app.subscribe("lifecycle.runtime.fail", {}, () => {
        throw new Error("broken");
      });
      expect(errorCode(await request("lifecycle.runtime.fail"))).toBe("500");
      // The 400 never reached the app middleware: decoding and validation come first.
      expect(trail).toEqual(["mw lifecycle.runtime.early", "mw adder", "mw lifecycle.runtime.fail"]);
      expect(await app.metrics.registry.getSingleMetricAsString("natsflow_handler_messages_total")).toMatch(/handler="adder",result="ok"} 1/);

      await failing.unsubscribe();
      await expect(request("lifecycle.runtime.fail", "", 1000)).rejects.toBeInstanceOf(NoRespondersError);
      await expect(app.subscribe("a b", {}, () => 1)).rejects.toBeInstanceOf(SetupError);
      await expect(app.subscribe("lifecycle.runtime.x", { concurrency: 0 }, () => 1)).rejects.toThrow(/lifecycle\.runtime\.x concurrency/);

      // A slow runtime handler is drained at stop like any other.
      let release!: () => void;
      await app.subscribe("lifecycle.runtime.slow", { codec: "string" }, () => new Promise<string>((r) => (release = () => r("late"))));
      const answer = request("lifecycle.runtime.slow", "", 5000);
      await expect.poll(() => release).toBeDefined();
      const stopping = app.stop();
      release();
      await stopping;
      expect(text(await answer)).toBe("late");
      await early.unsubscribe(); // after the stop: nothing left to do
      await expect(app.subscribe("lifecycle.runtime.after", {}, () => 1)).rejects.toThrow(/app that is stopped/);
    });

    it("app.subscribe applies concurrency and maxPending: past the bound, an overloaded 503", async () => {
      const app = await create({});
      await app.start();
      const release: Array<() => void> = [];
      await app.subscribe("lifecycle.runtime.busy", { concurrency: 1, maxPending: 1, codec: "string" }, () => new Promise<string>((r) => release.push(() => r("done"))));
      const replies = Array.from({ length: 4 }, () => request("lifecycle.runtime.busy", "", 5000));
      expect((await Promise.all(replies.slice(2))).map(errorCode)).toEqual(["503", "503"]);
      await expect.poll(() => release.length).toBe(1);
      release.shift()?.();
      await expect.poll(() => release.length).toBe(1);
      release.shift()?.();
      expect((await Promise.all(replies.slice(0, 2))).map(text)).toEqual(["done", "done"]);
      await app.stop();
    });

    it(`bounds the waiting messages of a @Subscribe handler by default (${DEFAULT_MAX_PENDING}): a flood past it is answered 503`, async () => {
      let open!: () => void;
      const gate = new Promise<void>((r) => (open = r));
      @Controller("lifecycle.flood")
      class Flooded {
        @Subscribe("in", { concurrency: 1, codec: "string" })
        work() {
          return gate.then(() => "done");
        }
      }
      const app = await create({ controllers: [Flooded] });
      await app.start();
      const extra = 20;
      const within = 1 + DEFAULT_MAX_PENDING; // one running, the rest waiting
      const replies = Array.from({ length: within + extra }, () => request("lifecycle.flood.in", "", 10_000));
      expect((await Promise.all(replies.slice(within))).map(errorCode)).toEqual(Array(extra).fill("503"));
      expect(await app.metrics.registry.getSingleMetricAsString("natsflow_handler_messages_total")).toMatch(new RegExp(`handler="Flooded.work",result="overloaded"} ${extra}$`, "m"));
      open();
      expect((await Promise.all(replies.slice(0, within))).filter((m) => text(m) === "done")).toHaveLength(within);
      await app.stop();
    });

    it("maxPending: Infinity is still allowed", async () => {
      @Controller("lifecycle.unbounded")
      class Unbounded {
        @Subscribe("in", { maxPending: Number.POSITIVE_INFINITY })
        work() {
          return 1;
        }
      }
      const app = await create({ controllers: [Unbounded] });
      await app.start();
      expect(text(await request("lifecycle.unbounded.in"))).toBe("1");
      await app.stop();
    });

    it("a subscription the server refuses is logged, counted, and makes the app not ready; the others serve", async () => {
      const logs = captureLogs();
      @Controller()
      class Mixed {
        @Subscribe(`${env.deniedPrefix}.orders`)
        secret() {
          return "secret";
        }
        @Subscribe("lifecycle.open.ping", { codec: "string" })
        open() {
          return "pong";
        }
      }
      const app = await NatsApp.create({ ...env.appOptions(), logger: logs.logger, controllers: [Mixed], http: { port: 0 } });
      await app.start();
      await expect.poll(() => logs.find(/subscription ended by the server/).length).toBe(1);
      expect(logs.find(/subscription ended by the server/)[0]).toMatchObject({
        level: 50,
        handler: "Mixed.secret",
        subject: `${env.deniedPrefix}.orders`,
        err: { type: "SubscriptionError", message: expect.stringMatching(/Permissions Violation for Subscription to/i) },
      });
      expect(app.isReady).toBe(false);
      expect((await fetch(`${app.httpUrl}/readyz`)).status).toBe(503);
      expect(await (await fetch(`${app.httpUrl}/metrics`)).text()).toMatch(/natsflow_subscription_errors_total\{handler="Mixed.secret"\} 1/);
      expect(text(await request("lifecycle.open.ping"))).toBe("pong");
      await app.stop();
    });

    it("a runtime subscription the server refuses turns /readyz to 503 until it is unsubscribed", async () => {
      const app = await create({ http: { port: 0 } });
      await app.start();
      expect((await fetch(`${app.httpUrl}/readyz`)).status).toBe(200);
      const refused = await app.subscribe(`${env.deniedPrefix}.runtime`, {}, () => 1);
      await expect.poll(() => app.isReady).toBe(false);
      expect((await fetch(`${app.httpUrl}/readyz`)).status).toBe(503);
      await refused.unsubscribe();
      expect((await fetch(`${app.httpUrl}/readyz`)).status).toBe(200);
      await app.stop();
    });

  });
}
