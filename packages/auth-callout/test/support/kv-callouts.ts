/**
 * A real nats-server with JetStream (or a JetStream cluster) and callout instances in one queue group
 * that share their brute-force counters through a KV bucket, for the brute-force integration tests.
 */
import { createHmac } from "node:crypto";

import { AuthCalloutConfig, authCalloutConfig, DEFAULT_FAILURE_BUCKET, type BruteForceOptions } from "@natsflow/auth-callout";
import { NatsApp, type Constructor } from "@natsflow/core";
import { captureLogs, configModeCallout, startNatsCluster, startNatsServer, type CapturedLogs, type ConfigModeCallout, type NatsCluster, type NatsServer } from "@natsflow/testing";
import { connect, type KV } from "nats";

export interface KvCallouts {
  /** The first node. */
  server: NatsServer;
  /** Every node (one unless `nodes` was asked for). */
  servers: NatsServer[];
  /** With `nodes`, the cluster they form. */
  cluster: NatsCluster | undefined;
  setup: ConfigModeCallout;
  apps: NatsApp[];
  /** Each instance's log, in the order of `apps`. */
  logs: CapturedLogs[];
  /** One more instance, started. */
  addInstance(): Promise<NatsApp>;
  /** A client connect through a running node and the callout: whether it was admitted. */
  login(user: string, pass: string): Promise<boolean>;
  /** The shared bucket, through a connection of the service user. */
  bucket(): Promise<KV>;
  /** The bucket key a username is counted under: a keyed hash of the name (docs/brute-force.md). */
  userKey(user: string): string;
  stop(): Promise<void>;
}

export async function startKvCallouts(options: { controllers: Constructor[]; bruteForce: BruteForceOptions; instances?: number; nodes?: number }): Promise<KvCallouts> {
  const setup = configModeCallout({ xkey: true, jetstream: true });
  const nodes = options.nodes ?? 1;
  const cluster = nodes > 1 ? await startNatsCluster({ size: nodes, config: setup.serverConfig, jetstream: true, user: setup.serviceUser }) : undefined;
  const servers = cluster?.servers ?? [await startNatsServer({ config: setup.serverConfig, jetstream: true })];
  const server = servers[0]!;
  const urls = servers.map((s) => s.url);
  const apps: NatsApp[] = [];
  const logs: CapturedLogs[] = [];
  const addInstance = async () => {
    const captured = captureLogs();
    const app = await NatsApp.create({
      servers: urls,
      ...setup.serviceUser,
      controllers: options.controllers,
      providers: [authCalloutConfig({ ...setup.callout, bruteForce: { ...options.bruteForce, store: "kv" } })],
      logger: captured.logger,
      reconnectTimeWaitMs: 100,
    });
    apps.push(app);
    logs.push(captured);
    await app.start();
    return app;
  };
  for (let i = 0; i < (options.instances ?? 2); i++) await addInstance();
  const client = await connect({ servers: urls, ...setup.serviceUser, reconnectTimeWait: 100, maxReconnectAttempts: -1 });
  const secret = AuthCalloutConfig.from(setup.callout).bruteForce!.keySecret;
  return {
    server,
    servers,
    cluster,
    setup,
    apps,
    logs,
    addInstance,
    async login(user, pass) {
      try {
        const nc = await connect({ servers: servers.filter((s) => s.isRunning).map((s) => s.url), user, pass, reconnect: false, timeout: 4000 });
        await nc.close();
        return true;
      } catch {
        return false;
      }
    },
    bucket: () => client.jetstream().views.kv(DEFAULT_FAILURE_BUCKET, { bindOnly: true }),
    userKey: (user) => `u.${createHmac("sha256", secret).update(user).digest("base64url").slice(0, 32)}`,
    async stop() {
      await client.close();
      await Promise.all(apps.map((a) => a.stop()));
      await Promise.all(servers.map((s) => s.stop()));
    },
  };
}
