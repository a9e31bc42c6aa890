/**
 * Consumer options beyond the basics (where a durable starts, several filter subjects, ephemeral
 * consumers) and pulling by hand through the injected Broker, run against the in-memory TestBroker
 * and a real nats-server (consumer-options.memory.test.ts, consumer-options.server.test.ts).
 */
import "reflect-metadata";

import { Consume, Controller, defineStream, Delivery, InvalidSubjectError, JetStreamDelivery, Msg, NatsApp, Payload, type Constructor, type JetStreamMessage, type NatsAppOptions, type StreamConfig, type Transport } from "@natsflow/core";
import { captureLogs } from "@natsflow/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";

export interface OptionsEnvironment {
  appOptions(): Partial<NatsAppOptions>;
  client(): Promise<Transport>;
  /** The names of the stream's consumers, durable and ephemeral (ordered ones left out). */
  consumerNames(stream: string): Promise<string[]>;
  stop(): Promise<void>;
}

const dec = new TextDecoder();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A stream as `defineStream` declares it by default, made before any app starts. */
export function plainStream(name: string, subjects: string[]): StreamConfig {
  return { name, subjects, retention: "limits", storage: "file", maxAgeMs: 0, duplicateWindowMs: 120_000, maxMsgs: -1, maxBytes: -1, replicas: 1 };
}

export function consumerOptionsSuite(name: string, setup: () => Promise<OptionsEnvironment>): void {
  describe(`consumer options and pulling by hand on ${name}`, () => {
    let env: OptionsEnvironment;
    let client: Transport;
    const apps: NatsApp[] = [];

    beforeAll(async () => {
      env = await setup();
      client = await env.client();
    });
    afterAll(async () => {
      await Promise.all(apps.map((a) => a.stop()));
      await client?.close();
      await env?.stop();
    });

    const startApp = async (...controllers: Constructor[]) => {
      const app = await NatsApp.create({ ...env.appOptions(), controllers, logger: captureLogs("warn").logger, shutdownTimeoutMs: 5_000 });
      apps.push(app);
      await app.start();
      return app;
    };
    const publish = (subject: string, text: string) => client.jetstream().publish(subject, new TextEncoder().encode(JSON.stringify(text)));

    it('a durable with startAt: "last-per-subject" and two filter subjects gets the latest of each subject of both, then only theirs', async () => {
      await client.jetstream().addStream(plainStream("S_LPS", ["s-lps.>"]));
      for (const [subject, text] of [["s-lps.a.1", "a1-old"], ["s-lps.a.1", "a1"], ["s-lps.a.2", "a2"], ["s-lps.b.1", "b1-old"], ["s-lps.b.1", "b1"], ["s-lps.c.1", "c1"]]) {
        await publish(subject as string, text as string);
      }
      const got: string[] = [];
      @Controller()
      class Latest {
        @Consume("s-lps.a.*", { stream: defineStream({ name: "S_LPS", subjects: ["s-lps.>"] }), durable: "latest", startAt: "last-per-subject", filterSubjects: ["s-lps.b.*"] })
        handle(@Payload() text: string) {
          got.push(text);
        }
      }
      await startApp(Latest);
      await expect.poll(() => got.length, { timeout: 10_000 }).toBe(3);
      expect([...got].sort()).toEqual(["a1", "a2", "b1"]);
      await publish("s-lps.c.1", "c2");
      await publish("s-lps.b.2", "b2");
      await publish("s-lps.a.1", "a1-new");
      await expect.poll(() => got.length, { timeout: 10_000 }).toBe(5);
      await sleep(200);
      expect(got.slice(3)).toEqual(["b2", "a1-new"]);
    });

    it("a push durable with headersOnly and filter subjects: headers and the payload's size, from both subjects", async () => {
      const got: Array<[string, number, string | undefined, string | undefined]> = [];
      @Controller()
      class Sizes {
        @Consume("s-ho.a", { stream: defineStream({ name: "S_HO", subjects: ["s-ho.>"] }), durable: "sizes", push: true, headersOnly: true, codec: "bytes", filterSubjects: ["s-ho.b"] })
        handle(@Msg() m: JetStreamMessage) {
          got.push([m.subject, m.data.length, m.headers?.get("Nats-Msg-Size"), m.headers?.get("X-Kind")]);
        }
      }
      const app = await startApp(Sizes);
      await app.broker.jetstream.publish("s-ho.a", "12345", { headers: { "X-Kind": "a" } });
      await app.broker.jetstream.publish("s-ho.b", "123", { headers: { "X-Kind": "b" } });
      await app.broker.jetstream.publish("s-ho.c", "1");
      await expect.poll(() => got.length, { timeout: 10_000 }).toBe(2);
      await sleep(200);
      expect(got).toEqual([["s-ho.a", 0, "5", "a"], ["s-ho.b", 0, "3", "b"]]);
    });

    it("ephemeral: each instance has a consumer of its own, acked, that the server removes after inactiveThreshold once the instance is gone", async () => {
      const stream = defineStream({ name: "S_EPH", subjects: ["s-eph.>"] });
      const make = (got: string[]) => {
        @Controller()
        class Everyone {
          @Consume("s-eph.news", { stream, ephemeral: true, startAt: "new", inactiveThreshold: "1s", ackWait: "1s" })
          handle(@Payload() text: string) {
            got.push(text);
          }
        }
        return Everyone;
      };
      const first: string[] = [];
      const second: string[] = [];
      const a = await startApp(make(first));
      await startApp(make(second));
      const names = await env.consumerNames("S_EPH");
      expect(names).toHaveLength(2);
      for (const text of ["one", "two", "three"]) await publish("s-eph.news", text);
      await expect.poll(() => [first.length, second.length], { timeout: 10_000 }).toEqual([3, 3]);
      // Acked: nothing comes again after the ack wait.
      await sleep(1_500);
      expect(first).toEqual(["one", "two", "three"]);
      expect(second).toEqual(["one", "two", "three"]);
      await a.stop();
      await expect.poll(() => env.consumerNames("S_EPH"), { timeout: 10_000, interval: 200 }).toHaveLength(1);
    });

    it("ephemeral: a failed message is nak'ed and comes again, its stream, sequence and delivery count read through", async () => {
      const stream = defineStream({ name: "S_EPH_RETRY", subjects: ["s-eph-retry.>"] });
      const seen: Array<[string, number, number]> = [];
      @Controller()
      class Flaky {
        @Consume("s-eph-retry.jobs", { stream, ephemeral: true, startAt: "new", retry: { backoffMs: [0], maxDeliver: 3 } })
        handle(@Payload() _text: string, @Delivery() delivery: JetStreamDelivery) {
          seen.push([delivery.stream, delivery.sequence, delivery.deliveries]);
          if (delivery.deliveries === 1) throw new Error("first try fails");
        }
      }
      await startApp(Flaky);
      await publish("s-eph-retry.jobs", "x");
      await expect.poll(() => seen, { timeout: 10_000 }).toEqual([["S_EPH_RETRY", 1, 1], ["S_EPH_RETRY", 1, 2]]);
    });

    describe("pulling by hand", () => {
      const order = z.object({ id: z.string() });

      it("refuses stream and consumer names that would change the API subject they are asked on", async () => {
        const app = await startApp();
        for (const [stream, durable, what] of [["S.OTHER", "hand", "stream name"], ["S_HAND", "a.>", "consumer name"], ["S_HAND", "*", "consumer name"], ["S HAND", "hand", "stream name"]]) {
          await expect(app.broker.jetstream.fetch(stream as string, durable as string)).rejects.toThrow(new RegExp(`^invalid ${what}`));
          await expect(app.broker.jetstream.consume(stream as string, durable as string)[Symbol.asyncIterator]().next()).rejects.toBeInstanceOf(InvalidSubjectError);
        }
      });

      it("fetch decodes and validates what it pulls; ack, nak and term settle it; next takes one", async () => {
        await client.jetstream().addStream(plainStream("S_HAND", ["s-hand.>"]));
        await client.jetstream().addConsumer({ stream: "S_HAND", durable: "hand", filterSubject: "s-hand.>", ackWaitMs: 30_000, maxDeliver: -1, backoffMs: [], maxAckPending: 100 });
        const app = await startApp();
        for (const id of ["1", "2", "3"]) await app.broker.jetstream.publish("s-hand.orders", { id });
        await app.broker.jetstream.publish("s-hand.orders", { nope: true });
        const pulled = await app.broker.jetstream.fetch("S_HAND", "hand", { max: 10, expiresMs: 1_000, schema: order });
        // The invalid one is terminated, not handed over.
        expect(pulled.map((m) => m.data)).toEqual([{ id: "1" }, { id: "2" }, { id: "3" }]);
        expect(pulled.map((m) => [m.subject, m.sequence, m.deliveries])).toEqual([["s-hand.orders", 1, 1], ["s-hand.orders", 2, 1], ["s-hand.orders", 3, 1]]);
        pulled[0]?.ack();
        pulled[1]?.term("not wanted");
        pulled[2]?.nak();
        const again = await app.broker.jetstream.next("S_HAND", "hand", { expiresMs: 2_000, schema: order });
        expect(again).toMatchObject({ data: { id: "3" }, sequence: 3, deliveries: 2 });
        again?.ack();
        expect(await app.broker.jetstream.next("S_HAND", "hand", { expiresMs: 1_000 })).toBeUndefined();
        await expect(app.broker.jetstream.fetch("S_HAND", "hand", { expiresMs: 10 })).rejects.toThrow(/expiresMs must be at least 1000/);
      });

      it("a pull asking for more than the consumer's maxBatch is refused", async () => {
        await client.jetstream().addStream(plainStream("S_HANDB", ["s-handb.>"]));
        await client.jetstream().addConsumer({ stream: "S_HANDB", durable: "handb", filterSubject: "s-handb.>", ackWaitMs: 30_000, maxDeliver: -1, backoffMs: [], maxAckPending: 100, maxBatch: 2 });
        const app = await startApp();
        await app.broker.jetstream.publish("s-handb.x", 1);
        await expect(app.broker.jetstream.fetch("S_HANDB", "handb", { max: 5, expiresMs: 1_000 })).rejects.toThrow(/MaxRequestBatch/i);
        expect((await app.broker.jetstream.fetch("S_HANDB", "handb", { max: 2, expiresMs: 1_000 })).map((m) => m.data)).toEqual([1]);
      });

      it("consume is an async iterable that keeps pulling until the loop ends, then stops cleanly", async () => {
        await client.jetstream().addStream(plainStream("S_HANDC", ["s-handc.>"]));
        await client.jetstream().addConsumer({ stream: "S_HANDC", durable: "handc", filterSubject: "s-handc.>", ackWaitMs: 30_000, maxDeliver: -1, backoffMs: [], maxAckPending: 100 });
        const app = await startApp();
        for (let i = 0; i < 5; i++) await app.broker.jetstream.publish("s-handc.jobs", `job-${i}`, { codec: "string" });
        const seen: string[] = [];
        const messages = app.broker.jetstream.consume<string>("S_HANDC", "handc", { codec: "string", max: 2 });
        setTimeout(() => void app.broker.jetstream.publish("s-handc.jobs", "late", { codec: "string" }), 200);
        for await (const m of messages) {
          seen.push(m.data);
          m.ack();
          if (seen.length === 6) break;
        }
        expect(seen).toEqual(["job-0", "job-1", "job-2", "job-3", "job-4", "late"]);
        // Stopped: a later message stays for the next puller.
        await app.broker.jetstream.publish("s-handc.jobs", "after", { codec: "string" });
        const rest = await app.broker.jetstream.fetch<string>("S_HANDC", "handc", { max: 5, expiresMs: 1_000, codec: "string" });
        expect(rest.map((m) => m.data)).toEqual(["after"]);
        rest[0]?.ack();
        expect(dec.decode(rest[0]?.raw.data)).toBe("after");
        // A consumer that is not there ends the loop with an error, not a hang.
        const missing = async () => {
          for await (const m of app.broker.jetstream.consume("S_HANDC", "nobody")) m.ack();
        };
        await expect(missing()).rejects.toThrow(/consumer not found/i);
      });
    });
  });
}
