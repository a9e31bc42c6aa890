import { authCalloutConfig, type AuthCalloutOptions } from "@natsflow/auth-callout";
import { NatsApp, type Logger, type NatsAppOptions } from "@natsflow/core";

import { UsersDbAuthorizer } from "./authorizer.js";
import { Database } from "./database.js";
import { UserRepository } from "./users.js";

export interface UsersDbServiceOptions {
  /** Default: NATS_URL, NATS_USER/NATS_PASSWORD, NATS_CREDS, … (NatsApp reads them). */
  connection?: Pick<NatsAppOptions, "servers" | "user" | "pass" | "creds" | "name">;
  /** Default: the keys from NATS_CALLOUT_ISSUER_SEED and NATS_CALLOUT_XKEY_SEED. */
  callout?: AuthCalloutOptions;
  database: Database;
  logger?: Logger;
}

/** The service: the authorizer, the repository injected by type, the database under it, the callout keys. */
export function createUsersDbService(options: UsersDbServiceOptions): Promise<NatsApp> {
  return NatsApp.create({
    name: "users-db-auth-callout",
    ...options.connection,
    controllers: [UsersDbAuthorizer],
    providers: [
      { provide: Database, useValue: options.database },
      UserRepository,
      authCalloutConfig(options.callout),
    ],
    ...(options.logger ? { logger: options.logger } : {}),
  });
}
