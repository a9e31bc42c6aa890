import { authCalloutConfig, type AuthCalloutOptions } from "@natsflow/auth-callout";
import { NatsApp, type Logger, type NatsAppOptions } from "@natsflow/core";

import { UsersFileAuthorizer } from "./authorizer.js";
import { UserRepository } from "./users.js";

export interface UsersFileServiceOptions {
  /** Default: NATS_URL, NATS_USER/NATS_PASSWORD, NATS_CREDS, … (NatsApp reads them). */
  connection?: Pick<NatsAppOptions, "servers" | "user" | "pass" | "creds" | "token" | "name">;
  /** Default: the keys from NATS_CALLOUT_ISSUER_SEED and NATS_CALLOUT_XKEY_SEED. */
  callout?: AuthCalloutOptions;
  users: UserRepository;
  logger?: Logger;
}

/** The whole service: the authorizer, its repository injected by type, and the callout keys. */
export function createUsersFileService(options: UsersFileServiceOptions): Promise<NatsApp> {
  return NatsApp.create({
    name: "users-file-auth-callout",
    ...options.connection,
    controllers: [UsersFileAuthorizer],
    providers: [{ provide: UserRepository, useValue: options.users }, authCalloutConfig(options.callout)],
    ...(options.logger ? { logger: options.logger } : {}),
  });
}
