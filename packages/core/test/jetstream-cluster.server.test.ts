/**
 * JetStream in a 3-node cluster (started once for the file): replicas declared on streams, KV buckets
 * and object stores, scaled with `update: true`; and an R3 stream consumed under steady publishing
 * while its stream leader, then its consumer leader, is killed with -9.
 */
import "reflect-metadata";

import { Consume, Controller, defineKv, defineObjectStore, defineStream, NatsApp, Payload, SetupError, WatchKv, WatchObjects, type Constructor } from "@natsflow/core";
import { captureLogs, startNatsCluster, type NatsCluster, type NatsServer } from "@natsflow/testing";
import { connect, type JetStreamManager, type NatsConnection } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const enc = new TextEncoder();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let cluster: NatsCluster;
let client: NatsConnection;
let jsm: JetStreamManager;

beforeAll(async () => {
  cluster = await startNatsCluster({ size: 3, jetstream: true });
  client = await connect({ servers: cluster.urls, reconnectTimeWait: 100, maxReconnectAttempts: -1 });
  jsm = await client.jetstreamManager();
  // The kit's own deadlines (routes, metadata group, placement) come first, with the servers' logs.
}, 150_000);

afterAll(async () => {
  await client?.close();
  await cluster?.stop();
});

const apps: NatsApp[] = [];
const create = (controllers: Constructor[]) =>
  NatsApp.create({ servers: cluster.urls, controllers, logger: captureLogs("warn").logger, reconnectTimeWaitMs: 100 }).then((app) => (apps.push(app), app));

async function started(controllers: Constructor[]): Promise<NatsApp> {
  const app = await create(controllers);
  await app.start();
  return app;
}

async function refused(controllers: Constructor[]): Promise<SetupError> {
  const app = await create(controllers);
  const failed = await app.start().then(() => undefined, (e: unknown) => e);
  expect(failed).toBeInstanceOf(SetupError);
  return failed as SetupError;
}

afterAll(async () => {
  for (const app of apps) await app.stop();
});

/** The stream's replica count and how many of them are current (the leader counts as one). */
async function placement(stream: string): Promise<{ replicas: number; current: number }> {
  const info = await jsm.streams.info(stream);
  const peers = info.cluster?.replicas ?? [];
  return { replicas: info.config.num_replicas, current: (info.cluster?.leader ? 1 : 0) + peers.filter((p) => p.current && !p.offline).length };
}

describe("replicas", () => {
  it("a stream is made with its declared replicas; a changed count is refused naming replicas, or scaled with update: true", async () => {
    const make = (replicas: number, update: boolean) => {
      const stream = defineStream({ name: "REPLICATED", subjects: ["replicated.>"], replicas, update });
      @Controller()
      class Reader {
        @Consume("replicated.a", { stream, durable: "reader" })
        handle() {}
      }
      return Reader;
    };
    await started([make(1, false)]);
    expect(await placement("REPLICATED")).toEqual({ replicas: 1, current: 1 });
    const err = await refused([make(3, false)]);
    expect(err.setting).toBe("stream REPLICATED replicas");
    expect(err.message).toMatch(/replicas.* 1 .*3/);
    await started([make(3, true)]);
    await expect.poll(() => placement("REPLICATED"), { timeout: 20_000, interval: 200 }).toEqual({ replicas: 3, current: 3 });
    await started([make(1, true)]);
    await expect.poll(() => placement("REPLICATED"), { timeout: 20_000, interval: 200 }).toEqual({ replicas: 1, current: 1 });
  }, 90_000);

  it("a KV bucket and an object store are made with their declared replicas; a KV bucket is scaled with update: true", async () => {
    const make = (replicas: number, update: boolean) => {
      @Controller()
      class Watcher {
        @WatchKv(defineKv({ bucket: "replicated_flags", replicas, update }))
        flags() {}
        @WatchObjects(defineObjectStore({ bucket: "replicated_files", replicas: 3 }))
        files() {}
      }
      return Watcher;
    };
    await started([make(3, false)]);
    await expect.poll(() => placement("KV_replicated_flags"), { timeout: 20_000, interval: 200 }).toEqual({ replicas: 3, current: 3 });
    await expect.poll(() => placement("OBJ_replicated_files"), { timeout: 20_000, interval: 200 }).toEqual({ replicas: 3, current: 3 });
    expect((await refused([make(1, false)])).setting).toBe("kv replicated_flags replicas");
    await started([make(1, true)]);
    await expect.poll(() => placement("KV_replicated_flags"), { timeout: 20_000, interval: 200 }).toEqual({ replicas: 1, current: 1 });
  }, 90_000);
});

describe("failover under load", () => {
  // Generous: the bound is that processing resumes by itself, not how fast (an election, a lost pull noticed within 5 s).
  const RESUME_WITHIN_MS = 30_000;

  it("an R3 stream and its durable lose the stream leader, then the consumer leader, to kill -9: processing resumes, nothing acked is lost, duplicates counted", async () => {
    const stream = defineStream({ name: "FAILOVER", subjects: ["failover.>"], replicas: 3 });
    const handled: Array<{ n: number; at: number }> = [];
    @Controller()
    class Worker {
      @Consume("failover.jobs", { stream, durable: "failover-worker", concurrency: 8, ackWait: "3s" })
      run(@Payload() job: { n: number }) {
        handled.push({ n: job.n, at: Date.now() });
      }
    }
    await started([Worker]);
    const consumer = await jsm.consumers.info("FAILOVER", "failover-worker");
    // The durable inherits the stream's replicas: R3 as well.
    expect(consumer.cluster?.replicas).toHaveLength(2);

    // Steady publishing, each message acked by the stream before the next; a failed publish is
    // retried with the same msgId, so one the old leader stored before failing is stored once.
    const publisher = await connect({ servers: cluster.urls, reconnectTimeWait: 100, maxReconnectAttempts: -1 });
    const js = publisher.jetstream();
    const acked = new Map<number, number>();
    let publishing = true;
    const publishing$ = (async () => {
      for (let n = 0; publishing; n++) {
        const giveUp = Date.now() + 60_000;
        for (;;) {
          try {
            await js.publish("failover.jobs", enc.encode(JSON.stringify({ n })), { msgID: `job-${n}`, timeout: 2000 });
            break;
          } catch (e) {
            if (Date.now() > giveUp) throw e;
            await sleep(100);
          }
        }
        acked.set(n, Date.now());
        await sleep(20);
      }
    })();

    const leader = (name: string | undefined): { name: string; node: NatsServer } => {
      // startNatsCluster names its servers n1, n2, n3.
      const node = cluster.servers[Number(/^n(\d)$/.exec(String(name))?.[1]) - 1];
      expect(node, `leader ${String(name)}`).toBeDefined();
      return { name: String(name), node: node! };
    };
    /** Where things stand, for a wait that timed out. */
    const state = async () => {
      const info = async <T>(get: () => Promise<T>) => get().catch((e: unknown) => String(e));
      const last = handled.at(-1);
      return JSON.stringify({
        acked: acked.size,
        handled: handled.length,
        lastHandledMsAgo: last ? Date.now() - last.at : undefined,
        stream: await info(async () => (await jsm.streams.info("FAILOVER")).cluster),
        consumer: await info(async () => {
          const c = await jsm.consumers.info("FAILOVER", "failover-worker");
          return { cluster: c.cluster, pending: c.num_pending, ackPending: c.num_ack_pending, waiting: c.num_waiting };
        }),
        running: cluster.servers.map((n) => n.isRunning),
      });
    };
    /** Polls `done` until it holds; past `timeoutMs`, fails saying where things stand. */
    const until = async (what: string, done: () => boolean, timeoutMs: number) => {
      const deadline = Date.now() + timeoutMs;
      while (!done()) {
        if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms; ${await state()}`);
        await sleep(50);
      }
    };
    /** Kills the node with -9; resolves to the time until a message published after the kill is handled. */
    const killAndMeasure = async (victim: NatsServer): Promise<number> => {
      await victim.halt({ kill: true });
      const killedAt = Date.now();
      let resumedAt = 0;
      await until("a message published after the kill handled", () => (resumedAt = handled.find((h) => h.at > killedAt && (acked.get(h.n) ?? Infinity) > killedAt)?.at ?? 0) > 0, RESUME_WITHIN_MS + 15_000);
      return resumedAt - killedAt;
    };
    /**
     * Restarts the killed node and waits until it is back in the cluster and a current replica of the
     * stream and of the consumer. Now and then (nats-server 2.10, loaded machine) a restarted node's
     * replica never catches up — the leader stops hearing from it, its lag stays put — until it is
     * restarted once more; that is done after 20 s.
     */
    const restart = async (node: NatsServer) => {
      await node.resume();
      await cluster.ready();
      let seen: unknown;
      const deadline = Date.now() + 90_000;
      let restartAt = Date.now() + 20_000;
      for (;;) {
        try {
          const s = await jsm.streams.info("FAILOVER");
          const c = await jsm.consumers.info("FAILOVER", "failover-worker");
          seen = { stream: s.cluster, consumer: c.cluster };
          if ([s.cluster, c.cluster].every((cl) => cl?.leader !== undefined && cl.replicas?.length === 2 && cl.replicas.every((r) => r.current && !r.offline))) return;
        } catch (e) {
          seen = e;
        }
        if (Date.now() > deadline) throw new Error(`the restarted node did not catch up: ${JSON.stringify(seen)}; ${await state()}`);
        if (Date.now() > restartAt) {
          await node.halt();
          await node.resume();
          await cluster.ready();
          restartAt = Date.now() + 20_000;
        }
        await sleep(250);
      }
    };
    const handledAfter = async (count: number) => {
      const from = handled.length;
      await until(`${count} more messages handled`, () => handled.length - from >= count, 30_000);
    };

    try {
      await handledAfter(50);
      const streamLeader = leader((await jsm.streams.info("FAILOVER")).cluster?.leader);
      const afterStreamLeader = await killAndMeasure(streamLeader.node);
      await handledAfter(30);
      // Back to three nodes first: a second node lost while one is still down would take the quorum with it.
      await restart(streamLeader.node);
      await handledAfter(30);
      const consumerLeader = leader((await jsm.consumers.info("FAILOVER", "failover-worker")).cluster?.leader);
      const afterConsumerLeader = await killAndMeasure(consumerLeader.node);
      await handledAfter(30);
      publishing = false;
      await publishing$;
      await consumerLeader.node.resume();

      // Every message the stream acked is handled, at least once.
      const published = [...acked.keys()];
      const seen = new Map<number, number>();
      await expect
        .poll(
          () => {
            seen.clear();
            for (const h of handled) seen.set(h.n, (seen.get(h.n) ?? 0) + 1);
            return published.filter((n) => !seen.has(n));
          },
          { timeout: 60_000, interval: 100 },
        )
        .toEqual([]);
      const duplicates = [...seen.values()].reduce((sum, count) => sum + count - 1, 0);
      // Retried publishes were deduplicated by msgId: the stream holds each message once.
      expect((await jsm.streams.info("FAILOVER")).state.messages).toBe(published.length);
      console.log(
        `cluster failover: stream leader ${streamLeader.name} killed -> next message handled after ${afterStreamLeader} ms; ` +
          `consumer leader ${consumerLeader.name} killed -> after ${afterConsumerLeader} ms; ` +
          `${published.length} published and acked, ${handled.length} handled, ${duplicates} duplicate deliveries, 0 lost`,
      );
      expect(afterStreamLeader).toBeLessThan(RESUME_WITHIN_MS);
      expect(afterConsumerLeader).toBeLessThan(RESUME_WITHIN_MS);
    } finally {
      publishing = false;
      await publishing$.catch(() => undefined);
      await publisher.close();
      for (const node of cluster.servers) await node.resume();
    }
  }, 300_000);
});
