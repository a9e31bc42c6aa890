/**
 * Consumer options against a real nats-server: the shared suite, then what only a server shows: each
 * option in the consumer info, updates of the options the server lets change, refusals of those it
 * does not (named as declared), the stream drift wording, and option validation at create.
 */
import "reflect-metadata";

import { connectNats, Consume, Controller, defineStream, NatsApp, Payload, SetupError, type ConsumeOptions, type Constructor } from "@natsflow/core";
import { captureLogs, startNatsServer, type NatsServer } from "@natsflow/testing";
import { connect, type JetStreamManager, type NatsConnection } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { consumerOptionsSuite, plainStream } from "./consumer-options-suite.js";

let server: NatsServer;
let nc: NatsConnection;
let jsm: JetStreamManager;

beforeAll(async () => {
  server = await startNatsServer({ jetstream: true });
  nc = await connect({ servers: server.url });
  jsm = await nc.jetstreamManager();
});

afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

consumerOptionsSuite("a real nats-server", async () => ({
  appOptions: () => ({ servers: server.url }),
  client: () => connectNats({ servers: server.url }),
  consumerNames: async (stream) => (await jsm.consumers.list(stream).next()).map((c) => c.name),
  stop: async () => undefined,
}));

/** Starts the controller's app and stops it again: the consumer stays on the server. */
async function runOnce(controller: Constructor): Promise<void> {
  const app = await NatsApp.create({ servers: server.url, controllers: [controller], logger: captureLogs("warn").logger });
  try {
    await app.start();
  } finally {
    await app.stop();
  }
}

const durable = (stream: ReturnType<typeof defineStream>, name: string, subject: string, options: Partial<ConsumeOptions>) => {
  @Controller()
  class Opts {
    @Consume(subject, { stream, durable: name, ...options } as ConsumeOptions)
    handle() {}
  }
  return Opts;
};

describe("every consumer option reaches the server", () => {
  it("a pull durable: start, filters, headers only, replay, metadata, thresholds, pull limits, storage, replicas, description", async () => {
    const stream = defineStream({ name: "CO_ALL", subjects: ["co-all.>"] });
    await runOnce(
      durable(stream, "all", "co-all.a", {
        startAt: { sequence: 2 },
        filterSubjects: ["co-all.b.>"],
        headersOnly: true,
        codec: "bytes",
        replay: "original",
        metadata: { team: "billing" },
        inactiveThreshold: "1h",
        maxWaiting: 16,
        maxBatch: 100,
        maxExpires: "10s",
        maxBytes: 1_000_000,
        memoryStorage: true,
        replicas: 1,
        description: "every option",
      }),
    );
    const c = (await jsm.consumers.info("CO_ALL", "all")).config;
    expect(c).toMatchObject({
      deliver_policy: "by_start_sequence",
      opt_start_seq: 2,
      filter_subjects: ["co-all.a", "co-all.b.>"],
      headers_only: true,
      replay_policy: "original",
      inactive_threshold: 3_600 * 1e9,
      max_waiting: 16,
      max_batch: 100,
      max_expires: 10 * 1e9,
      max_bytes: 1_000_000,
      mem_storage: true,
      num_replicas: 1,
      description: "every option",
    });
    expect(c.metadata).toMatchObject({ team: "billing" });
    expect(c.filter_subject ?? "").toBe("");
  });

  it("a push durable: its rate limit, and a start time", async () => {
    const stream = defineStream({ name: "CO_PUSH", subjects: ["co-push.>"] });
    const time = new Date("2026-01-02T03:04:05.000Z");
    await runOnce(durable(stream, "pushed", "co-push.a", { push: true, rateLimitBps: 8_000, startAt: { time } }));
    const c = (await jsm.consumers.info("CO_PUSH", "pushed")).config;
    expect(c).toMatchObject({ rate_limit_bps: 8_000, deliver_policy: "by_start_time" });
    expect(new Date(c.opt_start_time as string).getTime()).toBe(time.getTime());
  });
});

describe("an existing durable whose options changed", () => {
  it("is updated where the server allows it", async () => {
    const stream = defineStream({ name: "CO_UPD", subjects: ["co-upd.>"] });
    await runOnce(durable(stream, "upd", "co-upd.a", { description: "before", metadata: { v: "1" }, inactiveThreshold: "1h", maxBatch: 100, headersOnly: true, codec: "bytes" }));
    await runOnce(durable(stream, "upd", "co-upd.a", { description: "after", metadata: { v: "2" }, inactiveThreshold: "2h", maxBatch: 200, filterSubjects: ["co-upd.b"], ackWait: "45s" }));
    const c = (await jsm.consumers.info("CO_UPD", "upd")).config;
    expect(c).toMatchObject({ description: "after", inactive_threshold: 7_200 * 1e9, max_batch: 200, filter_subjects: ["co-upd.a", "co-upd.b"], ack_wait: 45 * 1e9 });
    expect(c.metadata).toMatchObject({ v: "2" });
    expect(c.headers_only ?? false).toBe(false);
  });

  it.each<[string, Partial<ConsumeOptions>, Partial<ConsumeOptions>, RegExp]>([
    ["startAt", { startAt: "new" }, { startAt: "last" }, /startAt is "new" on the server but declared "last"/],
    ["startAt", { startAt: { sequence: 3 } }, { startAt: { sequence: 4 } }, /startAt is \{ sequence: 3 \} on the server but declared \{ sequence: 4 \}/],
    ["replay", {}, { replay: "original" }, /replay is "instant" on the server but declared "original"/],
    ["memoryStorage", {}, { memoryStorage: true }, /memoryStorage is false on the server but declared true/],
    ["maxWaiting", { maxWaiting: 10 }, { maxWaiting: 20 }, /maxWaiting is 10 on the server but declared 20/],
  ])("is refused when %s changed, which the server cannot update, naming the option as declared", async (option, before, after, message) => {
    const stream = defineStream({ name: "CO_FIXED", subjects: ["co-fixed.>"] });
    const name = `fixed-${option}-${Object.keys(before).length}-${Date.now()}`;
    await runOnce(durable(stream, name, "co-fixed.a", before));
    const failed = await runOnce(durable(stream, name, "co-fixed.a", after)).then(() => undefined, (e: unknown) => e);
    expect(failed).toBeInstanceOf(SetupError);
    expect((failed as SetupError).setting).toBe(`Opts.handle ${option}`);
    expect((failed as SetupError).message).toMatch(message);
    expect((failed as SetupError).message).toMatch(/delete the consumer|new durable name/);
  });
});

describe("an ephemeral consumer the server removed", () => {
  it("is made again from where the instance left off: nothing missed, nothing twice", async () => {
    const stream = defineStream({ name: "CO_EPH_LOST", subjects: ["co-eph-lost.>"] });
    const got: string[] = [];
    @Controller()
    class Mine {
      // In memory: deleting a file-backed consumer right after an ack can race the server's own writes.
      @Consume("co-eph-lost.a", { stream, ephemeral: true, startAt: "first", memoryStorage: true })
      handle(@Payload() text: string) {
        got.push(text);
      }
    }
    const app = await NatsApp.create({ servers: server.url, controllers: [Mine], logger: captureLogs("error").logger });
    await app.start();
    try {
      const js = nc.jetstream();
      const publish = (text: string) => js.publish("co-eph-lost.a", new TextEncoder().encode(JSON.stringify(text)));
      await publish("one");
      await expect.poll(() => got, { timeout: 10_000 }).toEqual(["one"]);
      const [name] = (await jsm.consumers.list("CO_EPH_LOST").next()).map((c) => c.name);
      // As the server does to one whose instance was cut off for longer than its inactive threshold.
      await jsm.consumers.delete("CO_EPH_LOST", name as string);
      await publish("two");
      await publish("three");
      await expect.poll(() => got, { timeout: 15_000 }).toEqual(["one", "two", "three"]);
      const again = (await jsm.consumers.list("CO_EPH_LOST").next()).map((c) => c.config);
      expect(again).toHaveLength(1);
      expect(again[0]).toMatchObject({ deliver_policy: "by_start_sequence", opt_start_seq: 2 });
    } finally {
      await app.stop();
    }
  }, 30_000);
});

describe("stream drift", () => {
  it("names the declared option in the unit it was declared in", async () => {
    await jsm.streams.add({ ...toNats(plainStream("CO_AGE", ["co-age.>"])), max_age: 2 * 3_600 * 1e9, duplicate_window: 60 * 1e9 });
    const stream = defineStream({ name: "CO_AGE", subjects: ["co-age.>"], maxAge: "1h" });
    const failed = await runOnce(durable(stream, "age", "co-age.a", {})).then(() => undefined, (e: unknown) => e);
    expect(failed).toBeInstanceOf(SetupError);
    expect((failed as SetupError).setting).toBe("stream CO_AGE maxAge");
    expect((failed as SetupError).message).toMatch(/maxAge is "2h" on the server but declared "1h"/);
    expect((failed as SetupError).message).toMatch(/duplicateWindow is "1m" on the server but declared "2m"/);
    expect((failed as SetupError).message).not.toMatch(/Ms\b|3600000/);
  });
});

function toNats(c: ReturnType<typeof plainStream>) {
  return { name: c.name, subjects: c.subjects, max_age: 0, duplicate_window: nanos(c.duplicateWindowMs) };
}
const nanos = (ms: number) => ms * 1e6;

describe("consumer option validation at NatsApp.create", () => {
  const stream = defineStream({ name: "CO_OPTS", subjects: ["co-opts.>"] });
  const cases: Array<[string, Partial<ConsumeOptions> & Record<string, unknown>, string]> = [
    ["a startAt that says nowhere", { startAt: "all" as never }, "startAt"],
    ["a filter subject the stream does not store", { filterSubjects: ["elsewhere.b"] }, "filterSubjects"],
    ["filter subjects that overlap the handler's", { filterSubjects: ["co-opts.>"] }, "filterSubjects"],
    ["filter subjects that overlap each other", { filterSubjects: ["co-opts.b.*", "co-opts.b.x"] }, "filterSubjects"],
    ["a malformed filter subject", { filterSubjects: ["co-opts..b"] }, "filterSubjects"],
    ["headersOnly with the default json codec", { headersOnly: true }, "headersOnly"],
    ["a replay that is not instant or original", { replay: "fast" as never }, "replay"],
    ["a rate limit on a pull consumer", { rateLimitBps: 1_000 }, "rateLimitBps"],
    ["metadata that is not a string map", { metadata: { n: 1 } as never }, "metadata"],
    ["a malformed inactiveThreshold", { inactiveThreshold: "soon" }, "inactiveThreshold"],
    ["maxBatch below concurrency", { maxBatch: 10, concurrency: 20 }, "maxBatch"],
    ["maxExpires below natsflow's own pull expiry", { maxExpires: "1s" }, "maxExpires"],
    ["maxWaiting on a push consumer", { push: true, maxWaiting: 5 }, "maxWaiting"],
    ["replicas that are not a count", { replicas: 0 }, "replicas"],
    ["a description that is not text", { description: 5 as never }, "description"],
    ["ephemeral with a durable name", { ephemeral: true }, "ephemeral"],
    ["ephemeral and push", { ephemeral: true, durable: undefined, push: true }, "push"],
    ["ephemeral and bind", { ephemeral: true, durable: undefined, bind: true }, "bind"],
    ["ordered with filterSubjects", { ordered: true, durable: undefined, filterSubjects: ["co-opts.b"] }, "filterSubjects"],
  ];
  it.each(cases)("%s", async (_what, options, setting) => {
    const failed = await NatsApp.create({ servers: server.url, controllers: [durable(stream, "opts", "co-opts.a", options)] }).then(() => undefined, (e: unknown) => e);
    expect(failed).toBeInstanceOf(SetupError);
    expect((failed as SetupError).setting).toBe(`Opts.handle ${setting}`);
  });
});
