/** `defineKv` / `@WatchKv` / `@KvEntry()` mistakes fail `NatsApp.create` with a `SetupError` naming the setting. */
import "reflect-metadata";

import {
  Consume,
  Controller,
  defineKv,
  defineObjectStore,
  defineStream,
  KvEntry,
  NatsApp,
  SetupError,
  Subscribe,
  WatchKv,
  WatchObjects,
  type Constructor,
  type KvDeclaration,
  type ObjectStoreDeclaration,
} from "@natsflow/core";
import { TestBroker } from "@natsflow/testing";
import { describe, expect, it } from "vitest";

async function setupError(controller: Constructor): Promise<SetupError> {
  const err = await NatsApp.create({ controllers: [controller], transport: new TestBroker().transport }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(SetupError);
  return err as SetupError;
}

function watching(bucket: KvDeclaration, options: Parameters<typeof WatchKv>[1] = {}): Constructor {
  @Controller()
  class W {
    @WatchKv(bucket, options)
    on() {}
  }
  return W;
}

describe("KV option checks at create", () => {
  it("refuses a bad bucket name", async () => {
    const err = await setupError(watching(defineKv({ bucket: "has.dots" })));
    expect(err.setting).toBe("W.on bucket");
    expect(err.message).toMatch(/"has.dots" is not a valid bucket name/);
  });

  it("refuses a malformed ttl and a history out of range", async () => {
    expect((await setupError(watching(defineKv({ bucket: "b", ttl: "soon" })))).setting).toBe("kv b ttl");
    expect((await setupError(watching(defineKv({ bucket: "b", history: 65 })))).setting).toBe("kv b history");
  });

  it("refuses @WatchKv on something that is not a declaration", async () => {
    const err = await setupError(watching({ bucket: "flags" } as unknown as KvDeclaration));
    expect(err.setting).toBe("W.on bucket");
    expect(err.message).toMatch(/not a key-value bucket declaration/);
  });

  it("refuses @KvEntry() on a handler that does not watch a bucket", async () => {
    @Controller()
    class S {
      @Subscribe("x")
      on(@KvEntry() _e: unknown) {}
    }
    expect((await setupError(S)).setting).toBe("S.on @KvEntry()");
  });

  it("refuses @WatchObjects on something that is not a store, a bad store ttl, and @KvEntry() on an object watcher", async () => {
    @Controller()
    class NotAStore {
      @WatchObjects(defineKv({ bucket: "kv_not_store" }) as unknown as ObjectStoreDeclaration)
      on() {}
    }
    expect((await setupError(NotAStore)).setting).toBe("NotAStore.on store");
    @Controller()
    class BadTtl {
      @WatchObjects(defineObjectStore({ bucket: "files", ttl: -1 }))
      on() {}
    }
    expect((await setupError(BadTtl)).setting).toBe("object store files ttl");
    @Controller()
    class EntryOnObjects {
      @WatchObjects(defineObjectStore({ bucket: "files" }))
      on(@KvEntry() _e: unknown) {}
    }
    expect((await setupError(EntryOnObjects)).setting).toBe("EntryOnObjects.on @KvEntry()");
  });

  it("refuses replicas that are not a whole number from 1 to 5, on streams, buckets and object stores", async () => {
    for (const bad of [0, 6, 2.5, -1]) {
      const kv = await setupError(watching(defineKv({ bucket: "b", replicas: bad })));
      expect(kv.setting).toBe("kv b replicas");
      expect(kv.message).toContain(`must be a whole number from 1 to 5, got ${bad}`);
      @Controller()
      class Files {
        @WatchObjects(defineObjectStore({ bucket: "files", replicas: bad }))
        on() {}
      }
      expect((await setupError(Files)).setting).toBe("object store files replicas");
      @Controller()
      class Jobs {
        @Consume("jobs.run", { stream: defineStream({ name: "JOBS", subjects: ["jobs.>"], replicas: bad }), durable: "w" })
        on() {}
      }
      expect((await setupError(Jobs)).setting).toBe("stream JOBS replicas");
    }
  });

  it("refuses one bucket declared two ways", async () => {
    @Controller()
    class Two {
      @WatchKv(defineKv({ bucket: "same", history: 1 }))
      a() {}
      @WatchKv(defineKv({ bucket: "same", history: 2 }))
      b() {}
    }
    const err = await setupError(Two);
    expect(err.setting).toBe("Two.b kv bucket");
  });
});
