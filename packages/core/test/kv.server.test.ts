import "reflect-metadata";

import {
  connectNats,
  Controller,
  defineObjectStore,
  InjectObjectStore,
  NatsApp,
  ObjectStoreHandle,
  Payload,
  WatchObjects,
  type ObjectChangeInfo,
} from "@natsflow/core";
import { captureLogs, startNatsServer, type NatsServer } from "@natsflow/testing";
import { afterAll, describe, expect, it } from "vitest";

import { kvSuite } from "./kv-suite.js";
import { kvWatchSuite } from "./kv-watch-suite.js";

// One server for the file, shared by both suites.
let server: Promise<NatsServer> | undefined;
const shared = () => (server ??= startNatsServer({ jetstream: true }));
afterAll(async () => (await server)?.stop());

kvSuite("a real nats-server with JetStream", async () => {
  const s = await shared();
  return { connect: () => connectNats({ servers: s.url }), stop: async () => undefined };
});

kvWatchSuite("a real nats-server with JetStream", async () => {
  const s = await shared();
  return { appOptions: () => ({ servers: s.url }), connect: () => connectNats({ servers: s.url }), stop: async () => undefined };
});

describe("object stores on a real nats-server", () => {
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
    const s = await shared();
    const raw = await connectNats({ servers: s.url });
    const before = await raw.objectStore("files", { storage: "memory" });
    await before.put("old.txt", new TextEncoder().encode("old"));
    await before.put("gone.txt", new TextEncoder().encode("gone"));
    await before.delete("gone.txt");
    await raw.close();
    const app = await NatsApp.create({ servers: s.url, controllers: [Uploads], logger: captureLogs("warn").logger });
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
});
