/**
 * `@WatchKv`, `@KvEntry()`, `@InjectKv` and `defineKv` set-up, run against the in-memory TestBroker
 * and a real nats-server with JetStream (kv.memory.test.ts, kv.server.test.ts).
 */
import "reflect-metadata";

import {
  Controller,
  defineKv,
  InjectKv,
  KvEntry,
  KvHandle,
  kvToken,
  NatsApp,
  NatsflowError,
  Payload,
  Publish,
  RevisionMismatchError,
  SetupError,
  defineStream,
  ValidationError,
  WatchKv,
  type Constructor,
  type KvEntryInfo,
  type NatsAppOptions,
  type Transport,
} from "@natsflow/core";
import { captureLogs } from "@natsflow/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";

const enc = new TextEncoder();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, cond: () => boolean, timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

export interface KvWatchEnv {
  appOptions: () => Partial<NatsAppOptions>;
  connect: () => Promise<Transport>;
  stop: () => Promise<void>;
}

type Seen = [key: string, operation: KvEntryInfo["operation"], value: unknown, initial: boolean];

export function kvWatchSuite(name: string, setup: () => Promise<KvWatchEnv>): void {
  describe(`@WatchKv and KV handles on ${name}`, () => {
    let env: KvWatchEnv;
    let client: Transport;
    const apps: NatsApp[] = [];

    beforeAll(async () => {
      env = await setup();
      client = await env.connect();
    });
    afterAll(async () => {
      await Promise.all(apps.map((a) => a.stop()));
      await client?.close();
      await env?.stop();
    });

    async function startApp(controllers: Constructor[], logs = captureLogs("warn")): Promise<NatsApp> {
      const app = await NatsApp.create({ controllers, logger: logs.logger, shutdownTimeoutMs: 5_000, ...env.appOptions() });
      apps.push(app);
      await app.start();
      return app;
    }

    /** A controller recording every entry its watcher sees. */
    function watcher(bucket: ReturnType<typeof defineKv>, options: Parameters<typeof WatchKv>[1], seen: Seen[], revisions: number[]): Constructor {
      @Controller("ignored.prefix")
      class Watcher {
        @WatchKv(bucket, options)
        onEntry(@Payload() value: unknown, @KvEntry() e: KvEntryInfo) {
          seen.push([e.key, e.operation, value, e.initial]);
          revisions.push(e.revision);
        }
      }
      return Watcher;
    }

    it("delivers the current values once (deleted keys left out), then PUT, DEL and PURGE in revision order", async () => {
      const FLAGS = defineKv({ bucket: "watch_order", history: 5 });
      const raw = await client.kv("watch_order", { history: 5 });
      await raw.put("features.a", enc.encode(JSON.stringify({ on: false })));
      await raw.put("features.a", enc.encode(JSON.stringify({ on: true })));
      await raw.put("features.gone", enc.encode(JSON.stringify({ on: true })));
      await raw.delete("features.gone");
      const seen: Seen[] = [];
      const revisions: number[] = [];
      await startApp([watcher(FLAGS, { keys: "features.>" }, seen, revisions)]);
      await waitFor("the initial value", () => seen.length >= 1);
      await raw.put("features.b", enc.encode(JSON.stringify({ on: true })));
      await raw.delete("features.a");
      await raw.purge("features.b");
      await raw.put("other.key", enc.encode("1"));
      await waitFor("three changes", () => seen.length >= 4);
      await sleep(100);
      expect(seen).toEqual([
        ["features.a", "PUT", { on: true }, true],
        ["features.b", "PUT", { on: true }, false],
        ["features.a", "DEL", undefined, false],
        ["features.b", "PURGE", undefined, false],
      ]);
      expect(revisions).toEqual([...revisions].sort((x, y) => x - y));
    });

    it("@Publish: what the watcher returns is published, to a stream before the next entry; undefined publishes nothing", async () => {
      const PRICES = defineKv({ bucket: "watch_publish" });
      const CHANGES = defineStream({ name: "PRICE_CHANGES", subjects: ["prices.changed"] });
      @Controller()
      class Announcer {
        @WatchKv(PRICES, { initial: false })
        @Publish("prices.changed", { stream: CHANGES, msgId: (c: { key: string; revision: number }) => `${c.key}@${c.revision}` })
        @Publish("prices.live")
        onPrice(@Payload() price: { cents: number } | undefined, @KvEntry() e: KvEntryInfo) {
          return price === undefined ? undefined : { key: e.key, revision: e.revision, cents: price.cents };
        }
      }
      const live: unknown[] = [];
      client.subscribe("prices.live", {}, (m) => live.push(JSON.parse(new TextDecoder().decode(m.data))));
      await client.flush();
      await startApp([Announcer]);
      const raw = await client.kv("watch_publish");
      const r1 = await raw.put("cake", enc.encode(JSON.stringify({ cents: 250 })));
      await raw.delete("cake");
      const r3 = await raw.put("pie", enc.encode(JSON.stringify({ cents: 400 })));
      await waitFor("two published", () => live.length >= 2);
      await sleep(100);
      expect(live).toEqual([
        { key: "cake", revision: r1, cents: 250 },
        { key: "pie", revision: r3, cents: 400 },
      ]);
      const stored = await client.jetstream().publish("prices.changed", enc.encode("{}"), { msgId: `pie@${r3}` });
      // The watcher stored it first, with the same msgId: a duplicate now.
      expect(stored).toMatchObject({ stream: "PRICE_CHANGES", seq: 2, duplicate: true });
    });

    it("with initial: false delivers only later changes, and only of the keys filtered", async () => {
      const B = defineKv({ bucket: "watch_live" });
      const raw = await client.kv("watch_live");
      await raw.put("users.1", enc.encode('"before"'));
      const seen: Seen[] = [];
      await startApp([watcher(B, { keys: "users.*", initial: false }, seen, [])]);
      await raw.put("users.2", enc.encode('"after"'));
      await raw.put("users.2.deep", enc.encode('"not one token"'));
      await raw.put("groups.1", enc.encode('"elsewhere"'));
      await waitFor("the live change", () => seen.length >= 1);
      await sleep(100);
      expect(seen).toEqual([["users.2", "PUT", "after", false]]);
    });

    it("logs a handler that throws and goes on with the next entry", async () => {
      // History 3: all three writes stay in the bucket, so the watch sees each however fast they come.
      const B = defineKv({ bucket: "watch_throws", schema: z.object({ n: z.number() }), history: 3 });
      const raw = await client.kv("watch_throws", { history: 3 });
      const seen: number[] = [];
      @Controller()
      class Fragile {
        @WatchKv(B, { initial: false })
        on(@Payload() v: { n: number }) {
          if (v.n === 1) throw new Error("boom");
          seen.push(v.n);
        }
      }
      const logs = captureLogs("warn");
      await startApp([Fragile], logs);
      await raw.put("k", enc.encode(JSON.stringify({ n: 1 })));
      await raw.put("k", enc.encode(JSON.stringify({ n: "not a number" })));
      await raw.put("k", enc.encode(JSON.stringify({ n: 2 })));
      await waitFor("the entry after the failures", () => seen.length >= 1);
      expect(seen).toEqual([2]);
      const failures = logs.find(/watch handler failed/);
      expect(failures).toHaveLength(2);
      expect(failures.map((f) => (f.err as { type?: string } | undefined)?.type)).toEqual(["Error", "ValidationError"]);
    });

    it("injects a typed handle: encoded, validated, compare-and-set, keys, purge; closed before start and after stop", async () => {
      const Flag = z.object({ on: z.boolean() });
      const FLAGS = defineKv({ bucket: "handle_flags", schema: Flag });
      let handle: KvHandle<z.infer<typeof Flag>> | undefined;
      @Controller()
      class Features {
        constructor(@InjectKv(FLAGS) readonly flags: KvHandle<z.infer<typeof Flag>>) {
          handle = flags;
        }
        @WatchKv(FLAGS, { keys: "nothing.here" })
        noop() {}
      }
      const app = await NatsApp.create({ controllers: [Features], logger: captureLogs("warn").logger, ...env.appOptions() });
      apps.push(app);
      expect(app.container.resolve(kvToken(FLAGS))).toBe(handle);
      await expect(handle!.get("x")).rejects.toThrow(/not open/);
      await app.start();
      // A handle first asked for after start is set up on first use.
      const late = app.container.resolve(kvToken(defineKv<number>({ bucket: "handle_late" })));
      await late.put("x", 1);
      expect((await late.get("x"))?.value).toBe(1);
      const flags = handle!;
      const r1 = await flags.create("a", { on: true });
      await expect(flags.create("a", { on: false })).rejects.toBeInstanceOf(RevisionMismatchError);
      const r2 = await flags.update("a", { on: false }, r1);
      await expect(flags.update("a", { on: true }, r1)).rejects.toBeInstanceOf(RevisionMismatchError);
      expect(await flags.get("a")).toMatchObject({ value: { on: false }, revision: r2 });
      await expect(flags.put("a", { on: "yes" } as never)).rejects.toBeInstanceOf(ValidationError);
      await flags.put("b", { on: true });
      expect((await flags.keys()).sort()).toEqual(["a", "b"]);
      const changes: Array<[string, string, unknown, boolean]> = [];
      const stopWatch = await flags.watch((c) => changes.push([c.key, c.operation, c.value, c.initial]));
      await flags.purge("b");
      await flags.delete("a");
      await waitFor("the handle's watch", () => changes.length >= 4);
      stopWatch();
      expect(changes).toEqual([
        ["a", "PUT", { on: false }, true],
        ["b", "PUT", { on: true }, true],
        ["b", "PURGE", undefined, false],
        ["a", "DEL", undefined, false],
      ]);
      expect(await flags.keys()).toEqual([]);
      expect(await flags.get("a")).toBeUndefined();
      await app.stop();
      await expect(flags.get("a")).rejects.toBeInstanceOf(NatsflowError);
    });

    it("fails start when an existing bucket differs, naming the field, and updates it with update: true", async () => {
      await client.kv("drift_kv", { history: 1 });
      @Controller()
      class Drifting {
        @WatchKv(defineKv({ bucket: "drift_kv", history: 3 }))
        on() {}
      }
      const app = await NatsApp.create({ controllers: [Drifting], logger: captureLogs("error").logger, ...env.appOptions() });
      const err = await app.start().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SetupError);
      expect((err as SetupError).setting).toBe("kv drift_kv history");
      expect((err as SetupError).message).toMatch(/history is 1 on the server but declared 3/);

      @Controller()
      class Updating {
        @WatchKv(defineKv({ bucket: "drift_kv", history: 3, update: true }))
        on() {}
      }
      await startApp([Updating]);
      expect((await client.jetstream().streamInfo("KV_drift_kv"))?.maxMsgsPerSubject).toBe(3);
    });
  });
}
