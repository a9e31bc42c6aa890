import "reflect-metadata";

import {
  connectNats,
  Controller,
  inject,
  injectable,
  NatsApp,
  Param,
  Payload,
  Publish,
  SetupError,
  Subscribe,
  Use,
  type OnShutdown,
  type OnStartup,
  type Transport,
} from "@natsflow/core";
import { TestBroker } from "@natsflow/testing";
import { describe, expect, it } from "vitest";

const enc = new TextEncoder();
const dec = new TextDecoder();
const memory = () => ({ transport: new TestBroker().transport });

describe("NatsApp options", () => {
  it("rejects bad settings at create time, naming the setting", async () => {
    await expect(NatsApp.create({ servers: [] })).rejects.toThrow(/^servers:/);
    await expect(NatsApp.create({ servers: "nats://x", token: "t", user: "u" })).rejects.toThrow(/^token:/);
    await expect(NatsApp.create({ creds: "not a creds file" })).rejects.toThrow(/^creds:.*Fix:/);
    await expect(NatsApp.create({ shutdownTimeoutMs: -1 })).rejects.toBeInstanceOf(SetupError);
    await expect(NatsApp.create({ providers: [42 as never] })).rejects.toThrow(/^providers\[0\]:/);
    await expect(NatsApp.create({ providers: [{ provide: "x", useClass: class {}, scope: "request" as never }] })).rejects.toThrow(/^providers\[0\]\.scope/);
  });

  it("takes credentials from server URLs, and refuses them twice", async () => {
    await expect(connectNats({ servers: "nats://u:p@127.0.0.1:1", user: "x", maxReconnectAttempts: 0 })).rejects.toThrow(/^servers: carry credentials in a URL and in the options too/);
    // The error names the server without the password.
    await expect(connectNats({ servers: "nats://u:s3cr3t@127.0.0.1:1", maxReconnectAttempts: 0, connectTimeoutMs: 500 })).rejects.toThrow(/cannot connect to NATS at nats:\/\/127\.0\.0\.1:1(?!.*s3cr3t)/);
  });

  it("rejects a controller without handlers", async () => {
    class Plain {}
    await expect(NatsApp.create({ controllers: [Plain] })).rejects.toThrow(/controllers\[0\] \(Plain\): has no handlers/);
  });

  it("explains a constructor dependency it cannot create", async () => {
    interface Db {
      q(): void;
    }
    @Controller()
    class NeedsDb {
      constructor(readonly db: Db) {}
      @Subscribe("needs.db")
      handle() {}
    }
    await expect(NatsApp.create({ ...memory(), controllers: [NeedsDb] })).rejects.toThrow(
      /^controllers\[0\] \(NeedsDb\): cannot be created: constructor parameter #0 of NeedsDb has no class type at run time \(it is Object\).*Fix: type parameter #0 with a class imported as a value, or add @inject\(token\)/s,
    );
  });

  it("refuses two handlers on the same subject and queue", async () => {
    @Controller()
    class A {
      @Subscribe("same", { queue: "q" })
      h() {}
    }
    @Controller()
    class B {
      @Subscribe("same", { queue: "q" })
      h() {}
    }
    await expect(NatsApp.create({ ...memory(), controllers: [A, B] })).rejects.toThrow(/B\.h: listens on "same" in queue "q" like A\.h/);
  });

  it("refuses option combinations that cannot work, naming handler and option", async () => {
    @Controller("p")
    class BadParam {
      @Subscribe("{id}.get")
      get(@Param("key") key: string) {
        return key;
      }
    }
    await expect(NatsApp.create({ ...memory(), controllers: [BadParam] })).rejects.toThrow(
      /BadParam\.get @Param\("key"\): the subject has no \{key\} token \(it has \{id\}\)/,
    );

    @Controller()
    class Orphan {
      @Subscribe("ok")
      ok() {}
      @Publish("out")
      notAHandler(@Payload() x: unknown) {
        return x;
      }
    }
    await expect(NatsApp.create({ ...memory(), controllers: [Orphan] })).rejects.toThrow(/Orphan\.notAHandler: has @Publish or parameter decorators but no @Subscribe/);

    @Controller()
    class BadOptions {
      @Subscribe("a", { codec: "xml" as never })
      a() {}
    }
    await expect(NatsApp.create({ ...memory(), controllers: [BadOptions] })).rejects.toThrow(/BadOptions\.a codec: unknown codec "xml"/);

    @Controller()
    class BadSchema {
      @Subscribe("b", { schema: { parse: () => 1 } as never })
      b() {}
    }
    await expect(NatsApp.create({ ...memory(), controllers: [BadSchema] })).rejects.toThrow(/BadSchema\.b schema: is not a Standard Schema/);

    @Controller()
    class BadSubject {
      @Subscribe("a b")
      a() {}
      @Subscribe("{x}.{x}")
      b() {}
    }
    await expect(NatsApp.create({ ...memory(), controllers: [BadSubject] })).rejects.toThrow(/BadSubject\.a subject/);

    @Controller()
    class BadConcurrency {
      @Subscribe("c", { concurrency: 0 })
      c() {}
    }
    await expect(NatsApp.create({ ...memory(), controllers: [BadConcurrency] })).rejects.toThrow(/BadConcurrency\.c concurrency/);
  });

  it("refuses a singleton controller that depends on a message-scoped provider", async () => {
    class PerMessage {}
    @Controller()
    class Holder {
      constructor(readonly pm: PerMessage) {}
      @Subscribe("h")
      h() {}
    }
    await expect(
      NatsApp.create({ ...memory(), controllers: [Holder], providers: [{ provide: PerMessage, useClass: PerMessage, scope: "message" }] }),
    ).rejects.toThrow(/is a singleton but depends on message-scoped PerMessage.*scope: "message"/s);
  });

  describe("follows the whole dependency graph of singletons to a message-scoped provider", () => {
    const REPO = Symbol("repo");
    @injectable()
    class RequestScopedRepo {}
    @injectable()
    class OrderService {
      constructor(readonly repo: RequestScopedRepo) {}
    }
    @injectable()
    class ByToken {
      constructor(@inject(REPO) readonly repo: unknown) {}
    }
    @injectable()
    class Outer {
      constructor(readonly inner: ByToken) {}
    }
    const perMessage = [
      { provide: RequestScopedRepo, useClass: RequestScopedRepo, scope: "message" as const },
      { provide: REPO, useFactory: () => ({}), scope: "message" as const },
    ];

    it("controller → provider → message-scoped, named as a chain", async () => {
      @Controller()
      class Orders {
        constructor(readonly service: OrderService) {}
        @Subscribe("orders")
        h() {}
      }
      const created = NatsApp.create({ ...memory(), controllers: [Orders], providers: [OrderService, ...perMessage] });
      await expect(created).rejects.toBeInstanceOf(SetupError);
      await expect(created).rejects.toThrow(
        /^controllers\[0\] \(Orders\): is a singleton but depends on message-scoped RequestScopedRepo \(Orders → OrderService → RequestScopedRepo\).*Fix: make OrderService message-scoped too/s,
      );
    });

    it("through @inject(token) parameters and useClass providers", async () => {
      const SERVICE = "service";
      @Controller()
      class Deep {
        constructor(@inject(SERVICE) readonly service: unknown) {}
        @Subscribe("deep")
        h() {}
      }
      await expect(
        NatsApp.create({ ...memory(), controllers: [Deep], providers: [{ provide: SERVICE, useClass: Outer }, ByToken, ...perMessage] }),
      ).rejects.toThrow(/\(Deep → service → ByToken → Symbol\(repo\)\)/);
    });

    it("for middleware classes, app-wide and @Use, which are singletons too", async () => {
      @injectable()
      class Audit {
        constructor(readonly service: OrderService) {}
        async use(_ctx: unknown, next: () => Promise<void>) {
          await next();
        }
      }
      @Controller()
      class Plain {
        @Subscribe("plain")
        h() {}
      }
      @Controller()
      @Use(Audit)
      class Used {
        @Subscribe("used")
        h() {}
      }
      const providers = [{ provide: OrderService, useClass: OrderService, scope: "message" as const }, ...perMessage];
      const chain = /^middleware Audit: is a singleton but depends on message-scoped OrderService \(Audit → OrderService\)/;
      await expect(NatsApp.create({ ...memory(), controllers: [Plain], middleware: [Audit], providers })).rejects.toThrow(chain);
      await expect(NatsApp.create({ ...memory(), controllers: [Used], providers })).rejects.toThrow(chain);
    });

    it("for app-scoped providers too", async () => {
      @Controller()
      class Fine {
        @Subscribe("fine")
        h() {}
      }
      await expect(NatsApp.create({ ...memory(), controllers: [Fine], providers: [OrderService, ...perMessage] })).rejects.toThrow(
        /^providers \(OrderService\): is a singleton but depends on message-scoped RequestScopedRepo \(OrderService → RequestScopedRepo\).*Fix: make OrderService message-scoped/s,
      );
    });

    it("accepts message-scoped chains and factories (which it cannot see into)", async () => {
      @injectable()
      class ScopedService {
        constructor(readonly repo: RequestScopedRepo) {}
      }
      @Controller("ok", { scope: "message" })
      class PerMessageController {
        constructor(readonly service: ScopedService) {}
        @Subscribe("m")
        h() {}
      }
      @Controller()
      class ViaFactory {
        constructor(@inject("factory") readonly made: unknown) {}
        @Subscribe("f")
        h() {}
      }
      const app = await NatsApp.create({
        ...memory(),
        controllers: [PerMessageController, ViaFactory],
        providers: [{ provide: ScopedService, useClass: ScopedService, scope: "message" }, { provide: "factory", useFactory: () => ({}) }, ...perMessage],
      });
      await app.stop();
    });

    it("ends on cycles", async () => {
      @injectable()
      class A {
        constructor(
          @inject("b") readonly b: unknown,
          readonly repo: RequestScopedRepo,
        ) {}
      }
      @Controller()
      class Cyclic {
        constructor(readonly a: A) {}
        @Subscribe("c")
        h() {}
      }
      // A → "b" → A: the walk goes round once, then finds the repository.
      await expect(NatsApp.create({ ...memory(), controllers: [Cyclic], providers: [A, { provide: "b", useClass: A }, ...perMessage] })).rejects.toThrow(
        /\(Cyclic → A → b → RequestScopedRepo\)/,
      );
    });
  });
});

describe("an HTTP port in use", () => {
  it("fails start and leaves nothing running", async () => {
    const { createServer } = await import("node:net");
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    const port = (taken.address() as { port: number }).port;
    @Controller("http")
    class Ping {
      @Subscribe("ping")
      ping() {
        return "pong";
      }
    }
    const broker = new TestBroker();
    const app = await NatsApp.create({ transport: broker.transport, controllers: [Ping], http: { port } });
    try {
      await expect(app.start()).rejects.toThrow(/EADDRINUSE/);
      expect(app.isRunning).toBe(false);
      await expect(broker.connect().request("http.ping", enc.encode(""), { timeoutMs: 200 })).rejects.toThrow(/no responders/i);
    } finally {
      await app.stop();
      await new Promise((resolve) => taken.close(resolve));
    }
  });
});

describe("correlation", () => {
  @Controller("corr")
  class Echo {
    @Subscribe("echo")
    echo() {
      return "ok";
    }
  }
  const ask = async (options: Parameters<typeof NatsApp.create>[0], headers?: Record<string, string>) => {
    const broker = new TestBroker();
    const app = await NatsApp.create({ transport: broker.transport, controllers: [Echo], ...options });
    await app.start();
    try {
      return (await broker.connect().request("corr.echo", enc.encode(""), { timeoutMs: 1000, ...(headers ? { headers } : {}) })).headers;
    } finally {
      await app.stop();
    }
  };

  it("uses the configured header, and none when off", async () => {
    const custom = await ask({ correlation: { header: "X-Request-Id" } }, { "X-Request-Id": "r-1", "Correlation-Id": "ignored" });
    expect(custom?.get("X-Request-Id")).toBe("r-1");
    expect(custom?.has("Correlation-Id")).toBe(false);
    const off = await ask({ correlation: false }, { "Correlation-Id": "c-1" });
    expect(off?.has("Correlation-Id") ?? false).toBe(false);
  });

  it("refuses a header name that is not one, naming the setting", async () => {
    await expect(NatsApp.create({ correlation: { header: "bad header" } })).rejects.toMatchObject({ setting: "correlation.header" });
    await expect(NatsApp.create({ correlation: "yes" as never })).rejects.toMatchObject({ setting: "correlation" });
  });
});

describe("lifespan and shutdown", () => {
  it("runs onStartup in order before messages flow and onShutdown in reverse after draining", async () => {
    const events: string[] = [];
    class Database implements OnStartup, OnShutdown {
      onStartup() {
        events.push("db up");
      }
      onShutdown() {
        events.push("db down");
      }
    }
    @Controller("life")
    class Life implements OnStartup, OnShutdown {
      constructor(readonly db: Database) {}
      async onStartup() {
        events.push("controller up");
      }
      onShutdown() {
        events.push("controller down");
      }
      @Subscribe("ping", { codec: "string" })
      ping() {
        events.push("message");
        return "pong";
      }
    }
    const broker = new TestBroker();
    const app = await NatsApp.create({ transport: broker.transport, controllers: [Life], providers: [Database] });
    expect(events).toEqual([]);
    await app.start();
    expect(dec.decode((await broker.connect().request("life.ping", enc.encode(""), { timeoutMs: 1000 })).data)).toBe("pong");
    await app.stop();
    expect(events).toEqual(["db up", "controller up", "message", "controller down", "db down"]);
  });

  it("stop() lets in-flight messages finish and answer before closing", async () => {
    let release!: () => void;
    let entered!: () => void;
    const started = new Promise<void>((r) => (entered = r));
    @Controller("held")
    class Held {
      @Subscribe("h", { codec: "string" })
      async h() {
        entered();
        await new Promise<void>((r) => (release = r));
        return "finished";
      }
    }
    const broker = new TestBroker();
    const app = await NatsApp.create({ transport: broker.transport, controllers: [Held] });
    await app.start();
    const answer = broker.connect().request("held.h", enc.encode(""), { timeoutMs: 5000 });
    await started;
    const stopping = app.stop();
    release();
    await stopping;
    expect(dec.decode((await answer).data)).toBe("finished");
    expect(app.isRunning).toBe(false);
  });

  it("answers 503 at once when more messages wait than maxPending allows", async () => {
    const release: Array<() => void> = [];
    @Controller()
    class Busy {
      @Subscribe("busy", { concurrency: 1, maxPending: 1, codec: "string" })
      async work() {
        await new Promise<void>((r) => release.push(r));
        return "done";
      }
    }
    const broker = new TestBroker();
    const app = await NatsApp.create({ transport: broker.transport, controllers: [Busy] });
    await app.start();
    const client = broker.connect();
    const replies = Array.from({ length: 4 }, () => client.request("busy", enc.encode(""), { timeoutMs: 5000 }));
    const refused = await Promise.all(replies.slice(2));
    expect(refused.map((m) => m.headers?.get("Nats-Service-Error-Code"))).toEqual(["503", "503"]);
    await expect.poll(() => release.length).toBe(1);
    release.shift()?.();
    await expect.poll(() => release.length).toBe(1);
    release.shift()?.();
    expect((await Promise.all(replies.slice(0, 2))).map((m) => dec.decode(m.data))).toEqual(["done", "done"]);
    await app.stop();
  });

  it("runs handlers concurrently up to the limit, the rest in order", async () => {
    let inside = 0;
    let peak = 0;
    const release: Array<() => void> = [];
    @Controller()
    class Slow {
      @Subscribe("slow", { concurrency: 3, codec: "string" })
      async work() {
        inside++;
        peak = Math.max(peak, inside);
        await new Promise<void>((r) => release.push(r));
        inside--;
        return "done";
      }
    }
    const broker = new TestBroker();
    const app = await NatsApp.create({ transport: broker.transport, controllers: [Slow] });
    await app.start();
    const client = broker.connect();
    const replies = Array.from({ length: 5 }, () => client.request("slow", enc.encode("x"), { timeoutMs: 5000 }));
    await expect.poll(() => release.length).toBe(3);
    while (release.length) release.shift()?.();
    await expect.poll(() => release.length).toBe(2);
    while (release.length) release.shift()?.();
    expect((await Promise.all(replies)).map((m) => dec.decode(m.data))).toEqual(Array(5).fill("done"));
    expect(peak).toBe(3);
    await app.stop();
  });

  it("ends a stop within shutdownTimeoutMs, connection closed, when in-flight work and the drain never finish", async () => {
    @Controller()
    class Stuck {
      @Subscribe("stuck", { codec: "string" })
      work() {
        return new Promise<string>(() => undefined); // never settles
      }
    }
    const broker = new TestBroker();
    let closed = false;
    const app = await NatsApp.create({
      controllers: [Stuck],
      shutdownTimeoutMs: 300,
      // A server that went away: the drain never completes.
      transport: async (options) => {
        const transport = await broker.transport(options);
        return Object.assign(Object.create(transport) as Transport, {
          drain: () => new Promise<void>(() => undefined),
          close: async () => {
            closed = true;
            await transport.close();
          },
        });
      },
    });
    await app.start();
    void broker.connect().request("stuck", enc.encode(""), { timeoutMs: 5000 }).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 50));
    const started = performance.now();
    await app.stop();
    expect(performance.now() - started).toBeLessThan(300 + 200);
    expect(closed).toBe(true);
  });
});
