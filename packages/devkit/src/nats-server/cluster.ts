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
  stop(): Promise<void>;
}

/**
 * `size` nats-servers on loopback, routed to each other, each with `config` (the same accounts and
 * callout everywhere) and, with `jetstream`, a store of its own: a JetStream cluster. Resolves once
 * every route is up.
 */
export async function startNatsCluster(options: { size?: number; config?: Record<string, unknown>; jetstream?: boolean } = {}): Promise<NatsCluster> {
  const size = options.size ?? 3;
  const routePorts = await Promise.all(Array.from({ length: size }, () => freePort()));
  const servers: NatsServer[] = [];
  try {
    for (let i = 0; i < size; i++) {
      const config: NatsServerConfig = {
        ...(options.config ?? {}),
        server_name: `n${i + 1}`,
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
    // A JetStream cluster takes requests once it has elected its metadata leader.
    while (options.jetstream && !servers.some((s) => /new metadata leader|Self is new JetStream cluster metadata leader/.test(s.log))) {
      if (Date.now() > until) throw new Error(`JetStream cluster elected no metadata leader:\n${servers.map((s) => s.log.slice(-1500)).join("\n---\n")}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    if (options.jetstream) await untilPlaceable(servers.map((s) => s.url), size, until);
  } catch (e) {
    await Promise.all(servers.map((s) => s.stop()));
    throw e;
  }
  return { servers, urls: servers.map((s) => s.url), stop: async () => void (await Promise.all(servers.map((s) => s.stop()))) };
}

/**
 * A leader alone does not take an R`size` stream: until every peer has reported to it, a create fails
 * with "no suitable peers for placement". One replicated stream, made as soon as it can be, proves
 * it; it stays (it holds nothing).
 */
async function untilPlaceable(urls: string[], size: number, until: number): Promise<void> {
  const client = await connectNats({ servers: urls });
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
        if (Date.now() > until) throw new Error(`JetStream cluster cannot place an R${size} stream: ${(e as Error).message}`, { cause: e });
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  } finally {
    await client.close();
  }
}
