/**
 * The key-value seam's contract, run against the in-memory TestBroker and against a real
 * nats-server with JetStream (kv.memory.test.ts, kv.server.test.ts), so the two cannot drift.
 */
import { RevisionMismatchError, type KvEntry, type Transport } from "@natsflow/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const enc = new TextEncoder();
const dec = new TextDecoder();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function kvSuite(name: string, setup: () => Promise<{ connect: () => Promise<Transport>; stop: () => Promise<void> }>): void {
  describe(`key-value buckets on ${name}`, () => {
    let env: Awaited<ReturnType<typeof setup>>;
    let a: Transport;
    let b: Transport;

    beforeAll(async () => {
      env = await setup();
      a = await env.connect();
      b = await env.connect();
    });
    afterAll(async () => {
      await a?.close();
      await b?.close();
      await env?.stop();
    });

    it("creates only absent keys and updates only at the revision read (compare-and-set)", async () => {
      const bucket = await a.kv("suite_cas");
      const r1 = await bucket.create("k.1", enc.encode("one"));
      await expect(bucket.create("k.1", enc.encode("again"))).rejects.toBeInstanceOf(RevisionMismatchError);
      const r2 = await bucket.update("k.1", enc.encode("two"), r1);
      expect(r2).toBeGreaterThan(r1);
      const lost = await bucket.update("k.1", enc.encode("stale"), r1).catch((e: unknown) => e);
      expect(lost).toBeInstanceOf(RevisionMismatchError);
      expect((lost as RevisionMismatchError).key).toBe("k.1");
      const got = await bucket.get("k.1");
      expect(got && dec.decode(got.value)).toBe("two");
      expect(got?.revision).toBe(r2);
    });

    it("deletes with a tombstone, after which get sees nothing and create works again", async () => {
      const bucket = await a.kv("suite_del");
      const r = await bucket.put("gone", enc.encode("x"));
      await expect(bucket.delete("gone", r + 100)).rejects.toBeInstanceOf(RevisionMismatchError);
      await bucket.delete("gone", r);
      expect(await bucket.get("gone")).toBeUndefined();
      expect(await bucket.create("gone", enc.encode("back"))).toBeGreaterThan(r);
    });

    it("shares a bucket between connections, and a watch replays the latest values, then every change in order", async () => {
      const mine = await a.kv("suite_watch");
      await mine.put("w.1", enc.encode("first"));
      await mine.put("w.1", enc.encode("latest"));
      await mine.put("other", enc.encode("filtered out"));
      const seen: KvEntry[] = [];
      const stop = await (await b.kv("suite_watch")).watch((e) => seen.push(e), { key: "w.*" });
      await mine.put("w.2", enc.encode("new"));
      await mine.delete("w.1");
      for (let i = 0; i < 100 && seen.length < 3; i++) await sleep(10);
      stop();
      expect(seen.map((e) => [e.key, e.operation, dec.decode(e.value)])).toEqual([
        ["w.1", "put", "latest"],
        ["w.2", "put", "new"],
        ["w.1", "delete", ""],
      ]);
      expect(seen.map((e) => e.revision)).toEqual([...seen.map((e) => e.revision)].sort((x, y) => x - y));
      await mine.put("w.3", enc.encode("after stop"));
      await sleep(50);
      expect(seen).toHaveLength(3);
    });

    it("expires keys after the bucket's TTL", async () => {
      const bucket = await a.kv("suite_ttl", { ttlMs: 1000 });
      await bucket.put("brief", enc.encode("x"));
      expect(await bucket.get("brief")).toBeDefined();
      // A server removes expired messages on its own schedule, shortly after the TTL.
      const until = Date.now() + 6000;
      while ((await bucket.get("brief")) !== undefined && Date.now() < until) await sleep(200);
      expect(await bucket.get("brief")).toBeUndefined();
    });
  });
}
