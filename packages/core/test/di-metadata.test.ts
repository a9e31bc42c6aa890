import "reflect-metadata";

import { Controller, NatsApp, Subscribe, injectable } from "@natsflow/core";
import { TestBroker } from "@natsflow/testing";
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

@Controller("di")
class UsesService {
  constructor(readonly service: Service) {}

  @Subscribe("x")
  x() {
    return this.service.clock.now();
  }
}

describe("decorator metadata under the test runner", () => {
  it("emits design:paramtypes, so constructor types are known", () => {
    expect(Reflect.getMetadata("design:paramtypes", Service)).toEqual([Repository, Clock]);
    expect(Reflect.getMetadata("design:paramtypes", UsesService)).toEqual([Service]);
  });

  it("injects constructor dependencies by type through the app's container", async () => {
    const repo = new Repository("from-provider");
    const app = await NatsApp.create({
      transport: new TestBroker().transport,
      controllers: [UsesService],
      providers: [{ provide: Repository, useValue: repo }, Clock, Service],
    });
    const controller = app.container.resolve(UsesService);
    expect(controller.service.repository).toBe(repo);
    expect(controller.service.clock).toBeInstanceOf(Clock);
    // One instance per app: the controller the handlers use is the one the container hands out.
    expect(app.container.resolve(UsesService)).toBe(controller);
    await app.stop();
  });
});
