import { createLogger, type Logger } from "@natsflow/core";
import { configModeCallout, startNatsServer, type ConfigModeCallout, type NatsServer } from "@natsflow/testing";
import type { NatsApp } from "@natsflow/core";

import { DEFAULT_USERS_FILE } from "./settings.js";
import { createUsersFileService } from "./service.js";
import { UserRepository } from "./users.js";

export interface LocalStack {
  server: NatsServer;
  app: NatsApp;
  setup: ConfigModeCallout;
  users: UserRepository;
  stop(): Promise<void>;
}

export interface LocalStackOptions {
  /** Port for clients; 0 picks a free one. */
  port?: number;
  xkey?: boolean;
  usersFile?: string;
  logger?: Logger;
}

/**
 * The embedded default: a nats-server (provisioned if needed) configured for the callout with fresh
 * issuer and xkey keys, and the users-file service logged in as its auth user.
 */
export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const users = UserRepository.fromFile(options.usersFile ?? DEFAULT_USERS_FILE);
  const setup = configModeCallout({ xkey: options.xkey ?? true });
  const server = await startNatsServer({
    config: { ...setup.serverConfig, ...(options.port ? { port: options.port } : {}) },
  });
  let app: NatsApp | undefined;
  try {
    app = await createUsersFileService({
      connection: { servers: server.url, ...setup.serviceUser },
      callout: setup.callout,
      users,
      logger: options.logger ?? createLogger(),
    });
    await app.start();
  } catch (e) {
    await server.stop();
    throw e;
  }
  const started = app;
  return {
    server,
    app: started,
    setup,
    users,
    stop: async () => {
      await started.stop();
      await server.stop();
    },
  };
}
