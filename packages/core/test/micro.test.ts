/** NATS micro discovery without a server: the `service` option's checks, and the answers over the TestBroker. */
import "reflect-metadata";

import { Controller, HandlerError, NatsApp, NoRespondersError, Subscribe, SetupError, type NatsAppOptions } from "@natsflow/core";
import { captureLogs, TestBroker } from "@natsflow/testing";
import { describe, expect, it } from "vitest";

const dec = new TextDecoder();
const empty = new Uint8Array(0);

@Controller("mem")
class Greeter {
  @Subscribe("hello", { queue: "greeters", metadata: { public: "yes" } })
  hello() {
    return "hi";
  }

  @Subscribe("fail")
  fail() {
    throw new HandlerError("nope", 409);
  }

  @Subscribe("crash")
  crash() {
    throw new Error("db password is hunter2");
  }
}

const create = (service: unknown, extra: Partial<NatsAppOptions> = {}) =>
  NatsApp.create({ transport: new TestBroker().transport, controllers: [Greeter], service: service as NatsAppOptions["service"], ...extra });

describe("the service option", () => {
  it("rejects what NATS micro cannot carry, naming the setting and the fix", async () => {
    await expect(create("orders")).rejects.toThrow(/^service: must be an object like \{ name, version \}/);
    await expect(create({ name: "orders api", version: "1.0.0" })).rejects.toThrow(/^service\.name: must be letters, digits, "-" and "_" only, got "orders api"\. Fix: e\.g\. "orders"/);
    await expect(create({ name: "", version: "1.0.0" })).rejects.toThrow(/^service\.name:/);
    await expect(create({ name: "orders.v1", version: "1.0.0" })).rejects.toThrow(/^service\.name:/);
    await expect(create({ version: "1.0.0" })).rejects.toThrow(/^service\.name: .*got undefined/);
    for (const version of ["1.0", "v1.0.0", "1.0.0.0", "01.0.0", "1.0.0-", undefined]) {
      await expect(create({ name: "orders", version })).rejects.toThrow(/^service\.version: must be a semantic version.*Fix: e\.g\. "1\.0\.0"/);
    }
    await expect(create({ name: "orders", version: "1.0.0", description: 7 })).rejects.toThrow(/^service\.description: must be a string/);
    await expect(create({ name: "orders", version: "1.0.0", metadata: ["a"] })).rejects.toThrow(/^service\.metadata: must be an object of strings/);
    await expect(create({ name: "orders", version: "1.0.0", metadata: { replicas: 3 } })).rejects.toThrow(
      /^service\.metadata\.replicas: must be a string, got number\. Fix: write it as a string/,
    );
    await expect(create({ name: "orders", version: "1.0.0", metadata: { a: "b" } })).resolves.toBeInstanceOf(NatsApp);
    await expect(create({ name: "Orders_API-2", version: "2.1.0-beta.1+build.5" })).resolves.toBeInstanceOf(NatsApp);
    await expect(create({ name: "x", version: "x" })).rejects.toBeInstanceOf(SetupError);
  });

  it("checks @Subscribe metadata at create", async () => {
    @Controller()
    class BadMetadata {
      @Subscribe("x", { metadata: { weight: 1 as unknown as string } })
      x() {}
    }
    await expect(NatsApp.create({ transport: new TestBroker().transport, controllers: [BadMetadata] })).rejects.toThrow(/^BadMetadata\.x metadata\.weight: must be a string/);
  });
});

describe("NATS micro discovery over the TestBroker", () => {
  it("answers ping, info and stats; the last error is the text the client saw, never an internal one", async () => {
    const broker = new TestBroker();
    const app = await NatsApp.create({
      transport: broker.transport,
      controllers: [Greeter],
      service: { name: "greeter", version: "0.1.0" },
      logger: captureLogs("fatal").logger,
    });
    expect(app.serviceId).toBeUndefined();
    await app.start();
    const client = broker.connect();
    const ask = async (subject: string) => JSON.parse(dec.decode((await client.request(subject, empty, { timeoutMs: 1_000 })).data)) as Record<string, unknown>;
    try {
      const id = app.serviceId ?? "";
      expect(await ask(`$SRV.PING.greeter.${id}`)).toEqual({ type: "io.nats.micro.v1.ping_response", name: "greeter", id, version: "0.1.0", metadata: {} });
      expect(await ask("$SRV.INFO")).toMatchObject({
        description: "",
        endpoints: [
          { name: "Greeter-hello", subject: "mem.hello", queue_group: "greeters", metadata: { public: "yes" } },
          { name: "Greeter-fail", subject: "mem.fail", queue_group: "", metadata: {} },
          { name: "Greeter-crash", subject: "mem.crash", queue_group: "", metadata: {} },
        ],
      });
      for (const subject of ["mem.hello", "mem.hello", "mem.fail", "mem.crash"]) await client.request(subject, empty, { timeoutMs: 1_000 });
      const { endpoints } = (await ask("$SRV.STATS.greeter")) as { endpoints: Array<Record<string, unknown>> };
      expect(endpoints.map(({ name, num_requests, num_errors, last_error }) => ({ name, num_requests, num_errors, last_error }))).toEqual([
        { name: "Greeter-hello", num_requests: 2, num_errors: 0, last_error: "" },
        { name: "Greeter-fail", num_requests: 1, num_errors: 1, last_error: "nope" },
        { name: "Greeter-crash", num_requests: 1, num_errors: 1, last_error: "internal error" },
      ]);
    } finally {
      await app.stop();
    }
    await expect(client.request("$SRV.PING", empty, { timeoutMs: 200 })).rejects.toBeInstanceOf(NoRespondersError);
  });

  it("lists run-time subscriptions while they are there", async () => {
    const broker = new TestBroker();
    const app = await NatsApp.create({ transport: broker.transport, controllers: [Greeter], service: { name: "greeter", version: "1.0.0" }, logger: captureLogs("fatal").logger });
    await app.start();
    const client = broker.connect();
    const names = async () => ((JSON.parse(dec.decode((await client.request("$SRV.INFO.greeter", empty, { timeoutMs: 1_000 })).data)) as { endpoints: Array<{ name: string }> }).endpoints).map((e) => e.name);
    try {
      const late = await app.subscribe("mem.late", { name: "late" }, () => "late");
      expect(await names()).toContain("late");
      await late.unsubscribe();
      expect(await names()).not.toContain("late");
    } finally {
      await app.stop();
    }
  });

  it("is off without the service option", async () => {
    const broker = new TestBroker();
    const app = await NatsApp.create({ transport: broker.transport, controllers: [Greeter], logger: captureLogs("fatal").logger });
    await app.start();
    try {
      expect(app.serviceId).toBeUndefined();
      await expect(broker.connect().request("$SRV.PING", empty, { timeoutMs: 200 })).rejects.toBeInstanceOf(NoRespondersError);
    } finally {
      await app.stop();
    }
  });
});
