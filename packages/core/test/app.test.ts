import "reflect-metadata";

import {
  addHandler,
  defineController,
  HandlerError,
  injectable,
  NatsApp,
  SetupError,
  type MessageContext,
  type Middleware,
  type NatsMiddleware,
  type Next,
} from "@natsflow/core";
import { captureLogs, MemoryBroker } from "@natsflow/testing";
import { afterEach, describe, expect, it } from "vitest";

const enc = new TextEncoder();
const dec = new TextDecoder();

function controller<T extends new (...a: never[]) => object>(cls: T, handlers: Array<{ method: string; subject: string; concurrency?: number; queue?: string; middleware?: Middleware[] }>): T {
  defineController(cls, { middleware: [] });
  for (const h of handlers) {
    addHandler(cls, {
      method: h.method,
      subject: h.subject,
      options: { ...(h.concurrency !== undefined ? { concurrency: h.concurrency } : {}), ...(h.queue ? { queue: h.queue } : {}) },
      middleware: h.middleware ?? [],
    });
  }
  return cls;
}

/** Replies with its reversed text; the echo subject answers via middleware that sets the response. */
const reply: Middleware = async (ctx, next) => {
  await next();
  ctx.response = { data: enc.encode(String(ctx.result)) };
};

let apps: NatsApp[] = [];
afterEach(async () => {
  await Promise.all(apps.map((a) => a.stop()));
  apps = [];
});

async function startApp(options: Parameters<typeof NatsApp.create>[0]): Promise<NatsApp> {
  const app = await NatsApp.create(options);
  apps.push(app);
  await app.start();
  return app;
}

describe("NatsApp options", () => {
  it("rejects bad settings at create time, naming the setting", async () => {
    await expect(NatsApp.create({ servers: [] })).rejects.toThrow(/^servers:/);
    await expect(NatsApp.create({ servers: "nats://x", token: "t", user: "u" })).rejects.toThrow(/^token:/);
    await expect(NatsApp.create({ creds: "not a creds file" })).rejects.toThrow(/^creds:.*Fix:/);
    await expect(NatsApp.create({ shutdownTimeoutMs: -1 })).rejects.toBeInstanceOf(SetupError);
  });

  it("rejects a controller without handlers and a bad provider", async () => {
    class Plain {}
    await expect(NatsApp.create({ controllers: [Plain] })).rejects.toThrow(/controllers\[0\] \(Plain\): has no handlers/);
    await expect(NatsApp.create({ providers: [42 as never] })).rejects.toThrow(/^providers\[0\]:/);
  });

  it("explains a constructor dependency it cannot create", async () => {
    interface Db {
      q(): void;
    }
    @injectable()
    class NeedsDb {
      constructor(readonly db: Db) {}
      handle() {}
    }
    controller(NeedsDb, [{ method: "handle", subject: "needs.db" }]);
    await expect(NatsApp.create({ controllers: [NeedsDb] })).rejects.toThrow(/cannot create NeedsDb.*Fix: register every constructor dependency/s);
  });

  it("refuses two handlers on the same subject and queue", async () => {
    class A {
      h() {}
    }
    class B {
      h() {}
    }
    controller(A, [{ method: "h", subject: "same", queue: "q" }]);
    controller(B, [{ method: "h", subject: "same", queue: "q" }]);
    await expect(NatsApp.create({ controllers: [A, B] })).rejects.toThrow(/B\.h: listens on "same" in queue "q" like A\.h/);
  });

  it("refuses an invalid subject or concurrency", async () => {
    class C {
      h() {}
    }
    controller(C, [{ method: "h", subject: "bad subject" }]);
    await expect(NatsApp.create({ controllers: [C] })).rejects.toThrow(/C\.h subject/);
    class D {
      h() {}
    }
    controller(D, [{ method: "h", subject: "ok", concurrency: 0 }]);
    await expect(NatsApp.create({ controllers: [D] })).rejects.toThrow(/D\.h concurrency/);
  });
});

describe("dispatch", () => {
  it("runs handlers concurrently up to the limit, the rest in order", async () => {
    const broker = new MemoryBroker();
    let inside = 0;
    let peak = 0;
    const release: Array<() => void> = [];
    class Slow {
      async work(): Promise<string> {
        inside++;
        peak = Math.max(peak, inside);
        await new Promise<void>((r) => release.push(r));
        inside--;
        return "done";
      }
    }
    controller(Slow, [{ method: "work", subject: "slow", concurrency: 3, middleware: [reply] }]);
    await startApp({ transport: broker.transport, controllers: [Slow] });
    const client = broker.connect();
    const replies = Array.from({ length: 5 }, () => client.request("slow", enc.encode("x"), { timeoutMs: 5000 }));
    await expect.poll(() => release.length).toBe(3);
    expect(peak).toBe(3);
    while (release.length) release.shift()?.();
    await expect.poll(() => release.length).toBe(2);
    while (release.length) release.shift()?.();
    const answers = await Promise.all(replies);
    expect(answers.map((m) => dec.decode(m.data))).toEqual(Array(5).fill("done"));
    expect(peak).toBe(3);
  });

  it("answers unexpected errors with a generic 500 and HandlerError with its code, and keeps serving", async () => {
    const broker = new MemoryBroker();
    const logs = captureLogs();
    class Faulty {
      h(payload: Uint8Array): string {
        const text = dec.decode(payload);
        if (text === "crash") throw new Error("db at 10.1.2.3 refused");
        if (text === "bad") throw new HandlerError("bad input", 400);
        return "fine";
      }
    }
    controller(Faulty, [{ method: "h", subject: "faulty", middleware: [reply] }]);
    await startApp({ transport: broker.transport, controllers: [Faulty], logger: logs.logger });
    const client = broker.connect();
    const crash = await client.request("faulty", enc.encode("crash"), { timeoutMs: 1000 });
    expect(crash.headers?.get("Nats-Service-Error-Code")).toBe("500");
    expect(dec.decode(crash.data)).toBe("internal error");
    const bad = await client.request("faulty", enc.encode("bad"), { timeoutMs: 1000 });
    expect(bad.headers?.get("Nats-Service-Error-Code")).toBe("400");
    expect(bad.headers?.get("Nats-Service-Error")).toBe("bad input");
    const ok = await client.request("faulty", enc.encode("ok"), { timeoutMs: 1000 });
    expect(dec.decode(ok.data)).toBe("fine");
    const failure = logs.find(/handler failed/)[0] as { err?: { stack?: string } };
    expect(failure.err?.stack).toMatch(/db at 10\.1\.2\.3 refused/);
  });

  it("resolves middleware classes from the container, app middleware outermost", async () => {
    const broker = new MemoryBroker();
    const trail: string[] = [];
    class Tag {
      readonly value = "tagged";
    }
    @injectable()
    class TagMiddleware implements NatsMiddleware {
      constructor(private readonly tag: Tag) {}
      async use(ctx: MessageContext, next: Next) {
        trail.push(`class:${this.tag.value}`);
        await next();
      }
    }
    class Echo {
      h() {
        trail.push("handler");
        return "ok";
      }
    }
    controller(Echo, [{ method: "h", subject: "echo", middleware: [reply, TagMiddleware as never] }]);
    const outer: Middleware = async (_c, next) => {
      trail.push("app");
      await next();
    };
    await startApp({ transport: broker.transport, controllers: [Echo], providers: [Tag], middleware: [outer] });
    await broker.connect().request("echo", enc.encode(""), { timeoutMs: 1000 });
    expect(trail).toEqual(["app", "class:tagged", "handler"]);
  });

  it("stop() lets in-flight messages finish and answer before closing", async () => {
    const broker = new MemoryBroker();
    let release!: () => void;
    const started = new Promise<void>((resolveStarted) => {
      class Held {
        async h() {
          resolveStarted();
          await new Promise<void>((r) => (release = r));
          return "finished";
        }
      }
      controller(Held, [{ method: "h", subject: "held", middleware: [reply] }]);
      void startApp({ transport: broker.transport, controllers: [Held] });
    });
    await expect.poll(() => apps.length && apps[0]?.isRunning).toBe(true);
    const answer = broker.connect().request("held", enc.encode(""), { timeoutMs: 5000 });
    await started;
    const app = apps[0] as NatsApp;
    const stopping = app.stop();
    release();
    await stopping;
    expect(dec.decode((await answer).data)).toBe("finished");
    expect(app.isRunning).toBe(false);
  });
});
