import { loadSettings } from "@natsflow/core";
import { z } from "zod";

import type { DatabaseSettings } from "./database.js";

/**
 * The service's own variables: where its users are. NatsApp reads the connection (NATS_URL,
 * NATS_USER/NATS_PASSWORD, …) and authCalloutConfig the keys (NATS_CALLOUT_ISSUER_SEED, …).
 */
export const UsersDbSettings = z.object({
  /** A real Postgres; unset, the embedded PGlite in DATABASE_DIR. */
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, "must be a postgres:// URL, e.g. postgres://app:secret@localhost:5432/users, or unset for the embedded PGlite")
    .optional(),
  DATABASE_DIR: z.string().min(1).default("./users-db.data"),
});

/** The database as the environment (and .env) say; `env` instead of them in tests. */
export async function databaseFromSettings(env?: Record<string, string | undefined>): Promise<DatabaseSettings> {
  const settings = await loadSettings(UsersDbSettings, env ? { env, envFile: false } : {});
  return settings.DATABASE_URL ? { url: settings.DATABASE_URL } : { dir: settings.DATABASE_DIR };
}
