import { fileURLToPath } from "node:url";

import { loadSettings, type NatsApp } from "@natsflow/core";
import { z } from "zod";

import { createUsersFileService } from "./service.js";
import { UserRepository } from "./users.js";

export const DEFAULT_USERS_FILE = fileURLToPath(new URL("../users.json", import.meta.url));

/**
 * The service's own variable. NatsApp reads the connection (NATS_URL, NATS_USER/NATS_PASSWORD or
 * NATS_CREDS) and authCalloutConfig the keys (NATS_CALLOUT_ISSUER_SEED, NATS_CALLOUT_XKEY_SEED).
 */
export const UsersFileSettings = z.object({
  USERS_FILE: z.string().min(1).default(DEFAULT_USERS_FILE),
});

/** The service as the environment (and .env) configure it. */
export async function createUsersFileServiceFromSettings(): Promise<NatsApp> {
  const settings = await loadSettings(UsersFileSettings);
  return createUsersFileService({ users: UserRepository.fromFile(settings.USERS_FILE) });
}
