/**
 * Object stores through an injected handle and `@WatchObjects`, run against the in-memory TestBroker
 * and a real nats-server with JetStream (kv.memory.test.ts, kv.server.test.ts), so the two cannot drift.
 */
import "reflect-metadata";

import { createHash } from "node:crypto";

import {
  Controller,
  defineObjectStore,
  InjectObjectStore,
  NatsApp,
  ObjectStoreHandle,
  Payload,
  Publish,
  WatchObjects,
  type NatsAppOptions,
  type ObjectChangeInfo,
  type Transport,
} from "@natsflow/core";
import { captureLogs } from "@natsflow/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

export interface ObjectStoreEnvironment {
  appOptions(): Partial<NatsAppOptions>;
  connect(): Promise<Transport>;
  stop(): Promise<void>;
}

export function objectStoreSuite(name: string, setup: () => Promise<ObjectStoreEnvironment>): void {
  describe(`object stores on ${name}`, () => {
    let env: ObjectStoreEnvironment;
    const apps: NatsApp[] = [];
    beforeAll(async () => {
      env = await setup();
    });
    afterAll(async () => {
      await Promise.all(apps.map((a) => a.stop()));
      await env?.stop();
    });

    it("puts, gets, describes, lists and deletes objects through an injected handle; @WatchObjects sees it all in order", async () => {
      const FILES = defineObjectStore({ bucket: "files", storage: "memory" });
      let files: ObjectStoreHandle | undefined;
      @Controller()
      class Uploads {
        constructor(@InjectObjectStore(FILES) store: ObjectStoreHandle) {
          files = store;
        }
        @WatchObjects(FILES)
        changed(@Payload() c: ObjectChangeInfo) {
          changes.push([c.name, c.deleted, c.initial, c.size]);
        }
      }
      const changes: Array<[string, boolean, boolean, number]> = [];
      const raw = await env.connect();
      const before = await raw.objectStore("files", { storage: "memory" });
      await before.put("old.txt", new TextEncoder().encode("old"));
      await before.put("gone.txt", new TextEncoder().encode("gone"));
      await before.delete("gone.txt");
      await raw.close();
      const app = await NatsApp.create({ ...env.appOptions(), controllers: [Uploads], logger: captureLogs("warn").logger });
      await app.start();
      try {
        const store = files!;
        const big = new Uint8Array(300_000).map((_, i) => i % 251);
        const info = await store.put("big.bin", big);
        expect(info).toMatchObject({ name: "big.bin", size: big.length });
        expect(await store.get("big.bin")).toEqual(big);
        const streamed = new ReadableStream<Uint8Array>({
          start(c) {
            c.enqueue(new TextEncoder().encode("hello "));
            c.enqueue(new TextEncoder().encode("world"));
            c.close();
          },
        });
        await store.put("hello.txt", streamed);
        expect(new TextDecoder().decode(await store.get("hello.txt"))).toBe("hello world");
        expect((await store.info("hello.txt"))?.size).toBe(11);
        expect((await store.list()).map((i) => i.name).sort()).toEqual(["big.bin", "hello.txt", "old.txt"]);
        await store.delete("big.bin");
        expect(await store.info("big.bin")).toBeUndefined();
        expect(await store.get("big.bin")).toBeUndefined();
        expect((await store.list()).map((i) => i.name).sort()).toEqual(["hello.txt", "old.txt"]);
        const until = Date.now() + 5_000;
        while (changes.length < 4 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
        // @WatchObjects: the object there at start once (the deleted one left out), then puts and deletes in order.
        expect(changes).toEqual([
          ["old.txt", false, true, 3],
          ["big.bin", false, false, big.length],
          ["hello.txt", false, false, 11],
          ["big.bin", true, false, 0],
        ]);
      } finally {
        await app.stop();
      }
    });

    it("initial: false reports only later changes; @Publish sends what the watcher returns; digests are SHA-256", async () => {
      const DOCS = defineObjectStore({ bucket: "docs", storage: "memory" });
      const raw = await env.connect();
      const store = await raw.objectStore("docs", { storage: "memory" });
      await store.put("before.txt", new TextEncoder().encode("before"));
      @Controller()
      class Indexer {
        @WatchObjects(DOCS, { initial: false })
        @Publish("docs.indexed")
        changed(@Payload() c: ObjectChangeInfo) {
          return c.deleted ? undefined : { name: c.name, size: c.size, digest: c.digest };
        }
      }
      const indexed: unknown[] = [];
      raw.subscribe("docs.indexed", {}, (m) => indexed.push(JSON.parse(new TextDecoder().decode(m.data))));
      await raw.flush();
      const app = await NatsApp.create({ ...env.appOptions(), controllers: [Indexer], logger: captureLogs("warn").logger });
      apps.push(app);
      await app.start();
      const text = new TextEncoder().encode("hello");
      await store.put("after.txt", text);
      await store.delete("after.txt");
      await store.put("last.txt", new Uint8Array(0));
      const until = Date.now() + 5_000;
      while (indexed.length < 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      await new Promise((r) => setTimeout(r, 100));
      const sha = (b: Uint8Array) => `SHA-256=${createHash("sha256").update(b).digest("base64url")}=`;
      expect(indexed).toEqual([
        { name: "after.txt", size: 5, digest: sha(text) },
        { name: "last.txt", size: 0, digest: sha(new Uint8Array(0)) },
      ]);
      await raw.close();
    });
  });
}
