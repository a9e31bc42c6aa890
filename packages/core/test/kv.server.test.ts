import "reflect-metadata";

import { connectNats, Controller, defineObjectStore, InjectObjectStore, NatsApp, ObjectStoreHandle, WatchKv, defineKv } from "@natsflow/core";
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
  it("puts, gets, describes, lists and deletes objects through an injected handle, bytes and streams alike", async () => {
    const FILES = defineObjectStore({ bucket: "files", storage: "memory" });
    let files: ObjectStoreHandle | undefined;
    @Controller()
    class Uploads {
      constructor(@InjectObjectStore(FILES) store: ObjectStoreHandle) {
        files = store;
      }
      // A controller needs a handler; this one watches a bucket nobody writes.
      @WatchKv(defineKv({ bucket: "files_idle" }))
      idle() {}
    }
    const s = await shared();
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
      expect((await store.list()).map((i) => i.name).sort()).toEqual(["big.bin", "hello.txt"]);
      await store.delete("big.bin");
      expect(await store.info("big.bin")).toBeUndefined();
      expect(await store.get("big.bin")).toBeUndefined();
      expect((await store.list()).map((i) => i.name)).toEqual(["hello.txt"]);
    } finally {
      await app.stop();
    }
  });
});
