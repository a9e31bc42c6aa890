import "reflect-metadata";

import { Consume, Controller, defineStream, NatsApp } from "@natsflow/core";
import { captureLogs, TestBroker } from "@natsflow/testing";
import { describe, expect, it } from "vitest";

import { consumerOptionsSuite } from "./consumer-options-suite.js";

consumerOptionsSuite("the in-memory TestBroker", async () => {
  const broker = new TestBroker();
  return {
    appOptions: () => ({ transport: broker.transport }),
    client: async () => broker.connect(),
    consumerNames: async (stream) => broker.consumerNames(stream),
    stop: async () => undefined,
  };
});

describe("TestBroker and the consumer options it cannot honour", () => {
  it.each([
    ["replay", { replay: "original" as const }],
    ["rateLimitBps", { push: true, rateLimitBps: 1_000 }],
  ])("refuses %s at start with an error naming it, rather than ignoring it", async (option, extra) => {
    const broker = new TestBroker();
    @Controller()
    class Unsupported {
      @Consume("mem-unsup.a", { stream: defineStream({ name: "MEM_UNSUP", subjects: ["mem-unsup.>"] }), durable: "unsup", ...extra })
      handle() {}
    }
    const app = await NatsApp.create({ transport: broker.transport, controllers: [Unsupported], logger: captureLogs("warn").logger });
    await expect(app.start()).rejects.toThrow(new RegExp(`TestBroker.*${option}`));
    await app.stop();
  });
});
