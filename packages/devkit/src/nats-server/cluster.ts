import { createServer } from "node:net";

import { connectNats } from "@natsflow/core";

import { NatsServer, type NatsServerConfig } from "./launcher.js";

/** A free loopback port, for listeners that must be known before the server starts (routes). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export interface NatsCluster {
  servers: NatsServer[];
  /** Every client URL, for clients that should fail over. */
  urls: string[];
  /**
   * With JetStream: resolves once every node is a current member of the metadata group, restarting one
   * left out (as at start). For after a node was halted and resumed.
   */
  ready(): Promise<void>;
  stop(): Promise<void>;
}

export interface NatsClusterOptions {
  /** Default 3. */
  size?: number;
  config?: Record<string, unknown>;
  jetstream?: boolean;
  /** Who checks that a JetStream cluster can place replicated streams: a user with JetStream, when `config` admits no anonymous one (a callout's service user). */
  user?: { user: string; pass: string };
}

/**
 * `size` nats-servers on loopback, routed to each other, each with `config` (the same accounts and
 * callout everywhere) and, with `jetstream`, a store of its own: a JetStream cluster. Resolves once
 * every route is up and, with `jetstream`, once an R`size` stream can be placed.
 */
export async function startNatsCluster(options: NatsClusterOptions = {}): Promise<NatsCluster> {
  const size = options.size ?? 3;
  const routePorts = await Promise.all(Array.from({ length: size }, () => freePort()));
  const servers: NatsServer[] = [];
  try {
    for (let i = 0; i < size; i++) {
      const config: NatsServerConfig = {
        ...(options.config ?? {}),
        server_name: `n${i + 1}`,
        // Monitoring, for the state of the JetStream metadata group.
        ...(options.jetstream ? { http_port: -1 } : {}),
        cluster: {
          name: "natsflow-test",
          host: "127.0.0.1",
          port: routePorts[i],
          routes: routePorts.filter((_, j) => j !== i).map((p) => `nats-route://127.0.0.1:${p}`),
        },
      };
      servers.push(await NatsServer.start({ config, ...(options.jetstream ? { jetstream: true } : {}) }));
    }
    const until = Date.now() + 15_000;
    // Each server logs one "Route connection created" per peer once connected.
    while (!servers.every((s) => (s.log.match(/Route connection created/g)?.length ?? 0) >= size - 1)) {
      if (Date.now() > until) throw new Error(`cluster routes did not form:\n${servers.map((s) => s.log.slice(-1500)).join("\n---\n")}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    if (options.jetstream) {
      await untilEveryNodeIsAMember(servers, Date.now() + MEMBERS_WITHIN_MS);
      await untilPlaceable(servers, size, Date.now() + PLACEABLE_WITHIN_MS, options.user);
    }
  } catch (e) {
    await Promise.all(servers.map((s) => s.stop()));
    throw e;
  }
  return {
    servers,
    urls: servers.map((s) => s.url),
    ready: () => untilEveryNodeIsAMember(servers, Date.now() + MEMBERS_WITHIN_MS),
    stop: async () => void (await Promise.all(servers.map((s) => s.stop()))),
  };
}

const MEMBERS_WITHIN_MS = 60_000;
// How long a node may stay out of the metadata group the others formed before it is restarted.
const RESTART_STRAY_AFTER_MS = 4_000;
const PLACEABLE_WITHIN_MS = 30_000;

interface MetaGroup {
  leader?: string;
  replicas?: Array<{ name: string; current?: boolean; offline?: boolean }>;
}

/** The metadata group as the node's monitoring endpoint reports it; undefined while it cannot say. */
async function metaGroup(server: NatsServer): Promise<MetaGroup | undefined> {
  const monitor = server.isRunning ? server.ports.monitoring?.[0] : undefined;
  if (!monitor) return undefined;
  try {
    const jsz = (await (await fetch(`${monitor}/jsz`, { signal: AbortSignal.timeout(2000) })).json()) as { meta_cluster?: MetaGroup };
    return jsz.meta_cluster;
  } catch {
    return undefined;
  }
}

/**
 * Waits until the metadata leader counts every other node as a current member. Now and then (seen
 * with nats-server 2.10 on a loaded machine) two nodes form the group and the third, though it hears
 * the leader, is never taken in: every R3 create then fails with "no suitable peers for placement",
 * for as long as one waits. Restarted, such a node joins at once.
 */
async function untilEveryNodeIsAMember(servers: NatsServer[], until: number): Promise<void> {
  const names = servers.map((_, i) => `n${i + 1}`);
  let strays: string[] = [];
  let straySince = Date.now();
  for (;;) {
    const leaderName = (await Promise.all(servers.map(metaGroup))).find((m) => m?.leader)?.leader;
    const leader = leaderName ? servers[names.indexOf(leaderName)] : undefined;
    const group = leader && (await metaGroup(leader));
    const members = new Set((group?.replicas ?? []).filter((r) => r.current && !r.offline).map((r) => r.name));
    const missing = group ? names.filter((n) => n !== leaderName && !members.has(n)) : names;
    if (missing.length === 0) return;
    if (Date.now() > until) {
      throw new Error(`JetStream cluster: ${missing.join(", ")} not current in the metadata group (leader ${String(leaderName)}):\n${servers.map((s) => s.log.slice(-3000)).join("\n---\n")}`);
    }
    if (missing.join() !== strays.join()) {
      strays = missing;
      straySince = Date.now();
    } else if (group && Date.now() - straySince > RESTART_STRAY_AFTER_MS) {
      for (const name of missing) {
        const node = servers[names.indexOf(name)]!;
        await node.halt();
        await node.resume();
      }
      straySince = Date.now();
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * A leader alone does not take an R`size` stream: until every peer has reported to it, a create fails
 * with "no suitable peers for placement". One replicated stream, made as soon as it can be, proves
 * it; it stays (it holds nothing).
 */
async function untilPlaceable(servers: NatsServer[], size: number, until: number, user: NatsClusterOptions["user"]): Promise<void> {
  const client = await connectNats({ servers: servers.map((s) => s.url), ...user });
  try {
    for (;;) {
      try {
        await client.jetstream().addStream({
          name: "NATSFLOW_CLUSTER_READY",
          subjects: ["_natsflow.cluster.ready"],
          retention: "limits",
          storage: "memory",
          maxAgeMs: 0,
          duplicateWindowMs: 120_000,
          maxMsgs: -1,
          maxBytes: -1,
          replicas: size,
        });
        return;
      } catch (e) {
        if (Date.now() > until) {
          throw new Error(`JetStream cluster cannot place an R${size} stream: ${(e as Error).message}\n${servers.map((s) => s.log.slice(-3000)).join("\n---\n")}`, { cause: e });
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  } finally {
    await client.close();
  }
}
