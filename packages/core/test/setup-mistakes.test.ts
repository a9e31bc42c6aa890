import "reflect-metadata";

import { Broker, Controller, inject, injectable, MessageContext, NatsApp, Publish, Subscribe, Use } from "@natsflow/core";
import { captureLogs, TestBroker } from "@natsflow/testing";
import { describe, expect, it } from "vitest";

const memory = () => ({ transport: new TestBroker().transport });

class Db {}

// Built by hand: what a class looks like to tsyringe when its metadata is missing, whatever this runner emits.
function plainClass(name: string, paramtypes?: unknown[], decorate = true): new (...args: never[]) => unknown {
  const cls = { [name]: class {
    constructor(readonly db: unknown) {}
  } }[name] as new (...args: never[]) => unknown;
  if (paramtypes) Reflect.defineMetadata("design:paramtypes", paramtypes, cls);
  if (decorate) injectable()(cls);
  return cls;
}

function usersController(dependency: unknown) {
  @Controller("users")
  class Users {
    constructor(readonly repository: unknown) {}
    @Subscribe("get")
    get() {}
  }
  Reflect.defineMetadata("design:paramtypes", [dependency], Users);
  injectable()(Users);
  return Users;
}

describe("constructor metadata tsyringe cannot use, named by its cause", () => {
  it("a class without @injectable()", async () => {
    const UserRepository = plainClass("UserRepository", undefined, false);
    await expect(NatsApp.create({ ...memory(), controllers: [usersController(UserRepository)], providers: [UserRepository, Db] })).rejects.toThrow(
      /^controllers\[0\] \(Users\): depends on UserRepository \(Users → UserRepository\), which cannot be created: .*UserRepository is not @injectable\(\)\. Fix: add @injectable\(\) to UserRepository\.$/,
    );
  });

  it("a decorated class whose parameter types were not emitted", async () => {
    const UserRepository = plainClass("UserRepository");
    await expect(NatsApp.create({ ...memory(), controllers: [usersController(UserRepository)], providers: [UserRepository, Db] })).rejects.toThrow(
      /no decorator metadata \(design:paramtypes\) was emitted for UserRepository\. Fix: enable emitDecoratorMetadata \(and experimentalDecorators\) in tsconfig; tsx\/esbuild do not emit it — use explicit @inject\(token\)/,
    );
  });

  it("an interface or an `import type` as a parameter type, naming the parameter", async () => {
    for (const [type, shown] of [[Object, "Object"], [undefined, "undefined"]] as const) {
      const UserRepository = plainClass("UserRepository", [type]);
      await expect(NatsApp.create({ ...memory(), controllers: [usersController(UserRepository)], providers: [UserRepository] })).rejects.toThrow(
        new RegExp(`constructor parameter #0 of UserRepository has no class type at run time \\(it is ${shown}\\).*Fix: type parameter #0 with a class imported as a value, or add @inject\\(token\\)`),
      );
    }
  });

  it("ends a problem quoted from elsewhere with a full stop before the fix", async () => {
    const failing = { provide: "clock", useFactory: () => { throw new Error("no clock here") } };
    await expect(NatsApp.create({ ...memory(), providers: [failing] })).rejects.toThrow(/^providers\[0\]: cannot create clock: no clock here\. Fix: list every constructor dependency/);
  });

  it("accepts an @inject(token) where the type says nothing", async () => {
    const UserRepository = plainClass("UserRepository", [Object], false);
    // In decorator order: parameters first.
    inject("db")(UserRepository, undefined, 0);
    injectable()(UserRepository);
    const app = await NatsApp.create({ ...memory(), controllers: [usersController(UserRepository)], providers: [UserRepository, { provide: "db", useValue: {} }] });
    await app.stop();
  });
});

describe("dependencies nothing provides", () => {
  class Database {
    constructor(readonly path = ":memory:") {}
  }
  @injectable()
  class UserService {
    constructor(readonly db: Database) {}
  }

  it("refuses a class the container would construct behind the user's back, naming the chain", async () => {
    await expect(NatsApp.create({ ...memory(), controllers: [usersController(UserService)], providers: [UserService] })).rejects.toThrow(
      /^controllers\[0\] \(Users\): depends on Database \(Users → UserService → Database\), which is not in providers.*Fix: add Database to providers/,
    );
    await expect(NatsApp.create({ ...memory(), controllers: [usersController(UserService)] })).rejects.toThrow(/depends on UserService \(Users → UserService\).*Fix: add UserService to providers/);
  });

  it("in middleware classes and for tokens that are not classes", async () => {
    @injectable()
    class Audit {
      constructor(@inject("audit-sink") readonly sink: unknown) {}
      async use(_ctx: MessageContext, next: () => Promise<void>) {
        await next();
      }
    }
    @Controller()
    @Use(Audit)
    class Audited {
      @Subscribe("audited")
      h() {}
    }
    await expect(NatsApp.create({ ...memory(), controllers: [Audited] })).rejects.toThrow(
      /^middleware Audit: depends on audit-sink \(Audit → audit-sink\), which nothing provides\. Fix: add \{ provide: audit-sink, useValue: … \}/,
    );
  });

  it("accepts natsflow's own tokens, MessageContext in message scope, and optional dependencies", async () => {
    @Controller("own", { scope: "message" })
    class Own {
      constructor(
        readonly broker: Broker,
        readonly app: NatsApp,
        readonly ctx: MessageContext,
        readonly db: Database,
        @inject("maybe", { isOptional: true }) readonly maybe: unknown,
      ) {}
      @Subscribe("x")
      x() {}
    }
    const app = await NatsApp.create({ ...memory(), controllers: [Own], providers: [{ provide: Database, useValue: new Database("users.db") }] });
    await app.stop();
  });

  it("refuses MessageContext in a singleton, saying to make it message-scoped", async () => {
    await expect(NatsApp.create({ ...memory(), controllers: [usersController(MessageContext)] })).rejects.toThrow(
      /is a singleton but depends on message-scoped MessageContext.*Fix: declare @Controller\(prefix, \{ scope: "message" \}\)/,
    );
  });
});

describe("other mistakes caught at create or start", () => {
  it("refuses a class with handlers listed in providers", async () => {
    @Controller()
    class Orders {
      @Subscribe("orders")
      h() {}
    }
    await expect(NatsApp.create({ ...memory(), providers: [Db, Orders] })).rejects.toThrow(
      /^providers\[1\] \(Orders\): has handlers .* but is listed as a provider, so none of them would run\. Fix: move Orders to controllers\.$/,
    );
    // Listed in both, it is a controller that can also be injected.
    const app = await NatsApp.create({ ...memory(), controllers: [Orders], providers: [Orders] });
    await app.stop();
  });

  it("warns at start when there are no handlers at all, saying how to add them", async () => {
    const logs = captureLogs("warn");
    const app = await NatsApp.create({ ...memory(), logger: logs.logger });
    await app.start();
    const [warning] = logs.find(/no handlers/);
    expect(warning?.msg).toMatch(/no controllers were given.*controllers: \[\.\.\.\].*app\.subscribe/);
    await app.stop();

    const quiet = captureLogs("warn");
    const served = await NatsApp.create({ ...memory(), logger: quiet.logger });
    await served.subscribe("later", {}, () => "ok");
    await served.start();
    expect(quiet.find(/no handlers/)).toEqual([]);
    await served.stop();
  });

  it("refuses a wildcard @Publish subject", async () => {
    @Controller()
    class Events {
      @Subscribe("in")
      @Publish("events.*")
      h() {
        return {};
      }
    }
    await expect(NatsApp.create({ ...memory(), controllers: [Events] })).rejects.toThrow(/Events\.h @Publish\("events\.\*"\): is not a subject to publish on.*Fix: name one subject/);
  });

  it("names the app's logger after the app; a given logger is left alone", async () => {
    const named = await NatsApp.create({ ...memory(), name: "orders" });
    expect(named.logger.bindings()).toEqual({ name: "orders" });
    const unnamed = await NatsApp.create(memory());
    expect(unnamed.logger.bindings()).toEqual({ name: "natsflow" });
    const { logger } = captureLogs();
    expect((await NatsApp.create({ ...memory(), name: "orders", logger })).logger).toBe(logger);
  });
});
