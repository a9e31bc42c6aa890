import "reflect-metadata";

import { injectable, NatsApp, addHandler, defineController } from "@natsflow/core";
import { MemoryBroker } from "@natsflow/testing";
import { describe, expect, it } from "vitest";

class Clock {
  now(): number {
    return 42;
  }
}

class Repository {
  constructor(readonly label = "repo") {}
}

@injectable()
class Service {
  constructor(
    readonly repository: Repository,
    readonly clock: Clock,
  ) {}
}

describe("decorator metadata under the test runner", () => {
  it("emits design:paramtypes, so constructor types are known", () => {
    expect(Reflect.getMetadata("design:paramtypes", Service)).toEqual([Repository, Clock]);
  });

  it("injects constructor dependencies by type through the app's container", async () => {
    const repo = new Repository("from-provider");
    defineController(Service, { middleware: [] });
    addHandler(Service, { method: "toString", subject: "svc.x", options: {}, middleware: [] });
    const app = await NatsApp.create({
      transport: new MemoryBroker().transport,
      controllers: [Service],
      providers: [{ provide: Repository, useValue: repo }, Clock],
    });
    const service = app.container.resolve(Service);
    expect(service.repository).toBe(repo);
    expect(service.clock).toBeInstanceOf(Clock);
    // One instance per app: the controller the handlers use is the one the container hands out.
    expect(app.container.resolve(Service)).toBe(service);
    await app.stop();
  });
});
