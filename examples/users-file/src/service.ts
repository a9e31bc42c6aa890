import { authCalloutConfig, type AuthCalloutOptions } from "@natsflow/auth-callout";
import { NatsApp, type Logger, type NatsAppOptions } from "@natsflow/core";

import { UsersFileAuthorizer } from "./authorizer.js";
import { UserRepository } from "./users.js";

export interface UsersFileServiceOptions {
  connection: Pick<NatsAppOptions, "servers" | "user" | "pass" | "creds" | "token" | "name">;
  callout: AuthCalloutOptions;
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
