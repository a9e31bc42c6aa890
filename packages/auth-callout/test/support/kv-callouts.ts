/**
 * A real nats-server with JetStream and callout instances in one queue group that share their
 * brute-force counters through a KV bucket, for the brute-force integration tests.
 */
import { createHmac } from "node:crypto";

import { AuthCalloutConfig, authCalloutConfig, DEFAULT_FAILURE_BUCKET, type BruteForceOptions } from "@natsflow/auth-callout";
import { NatsApp, type Constructor } from "@natsflow/core";
import { captureLogs, configModeCallout, startNatsServer, type CapturedLogs, type ConfigModeCallout, type NatsServer } from "@natsflow/testing";
import { connect, type KV } from "nats";

export interface KvCallouts {
  server: NatsServer;
  setup: ConfigModeCallout;
  apps: NatsApp[];
  /** Each instance's log, in the order of `apps`. */
  logs: CapturedLogs[];
  /** A client connect through the server and the callout: whether it was admitted. */
  login(user: string, pass: string): Promise<boolean>;
  /** The shared bucket, through a connection of the service user. */
  bucket(): Promise<KV>;
  /** The bucket key a username is counted under: a keyed hash of the name (docs/brute-force.md). */
  userKey(user: string): string;
  stop(): Promise<void>;
}

export async function startKvCallouts(options: { controllers: Constructor[]; bruteForce: BruteForceOptions; instances?: number }): Promise<KvCallouts> {
  const setup = configModeCallout({ xkey: true, jetstream: true });
  const server = await startNatsServer({ config: setup.serverConfig, jetstream: true });
  const apps: NatsApp[] = [];
  const logs: CapturedLogs[] = [];
  for (let i = 0; i < (options.instances ?? 2); i++) {
    const captured = captureLogs();
    const app = await NatsApp.create({
      servers: server.url,
      ...setup.serviceUser,
      controllers: options.controllers,
      providers: [authCalloutConfig({ ...setup.callout, bruteForce: { ...options.bruteForce, store: "kv" } })],
      logger: captured.logger,
    });
    await app.start();
    apps.push(app);
    logs.push(captured);
  }
  const client = await connect({ servers: server.url, ...setup.serviceUser });
  const secret = AuthCalloutConfig.from(setup.callout).bruteForce!.keySecret;
  return {
    server,
    setup,
    apps,
    logs,
    async login(user, pass) {
      try {
        const nc = await connect({ servers: server.url, user, pass, reconnect: false, timeout: 4000 });
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
      await server.stop();
    },
  };
}
