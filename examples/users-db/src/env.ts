import { AuthCalloutConfig } from "@natsflow/auth-callout";
import { SetupError } from "@natsflow/core";

import type { DatabaseSettings } from "./database.js";
import type { UsersDbServiceOptions } from "./service.js";

const ENV_NAMES: Record<string, string> = { issuerSeed: "NATS_CALLOUT_ISSUER_SEED", xkeySeed: "NATS_CALLOUT_XKEY_SEED" };

/** DATABASE_URL (postgres://…) for a real Postgres, else PGlite in DATABASE_DIR (default ./users-db.data). */
export function databaseFromEnv(env: NodeJS.ProcessEnv = process.env): DatabaseSettings {
  if (env.DATABASE_URL !== undefined && !/^postgres(ql)?:\/\//.test(env.DATABASE_URL)) {
    throw new SetupError("DATABASE_URL", "must be a postgres:// URL.", "e.g. postgres://app:secret@localhost:5432/users, or leave it unset for the embedded PGlite.");
  }
  return env.DATABASE_URL ? { url: env.DATABASE_URL } : { dir: env.DATABASE_DIR ?? "./users-db.data" };
}

/**
 * The service's environment contract: NATS_URL, NATS_USER + NATS_PASSWORD (its auth_users login),
 * NATS_CALLOUT_ISSUER_SEED, optional NATS_CALLOUT_XKEY_SEED, and the database's (see databaseFromEnv).
 */
export function serviceFromEnv(env: NodeJS.ProcessEnv = process.env): Omit<UsersDbServiceOptions, "database" | "logger"> {
  const issuerSeed = env.NATS_CALLOUT_ISSUER_SEED;
  if (!issuerSeed) {
    throw new SetupError("NATS_CALLOUT_ISSUER_SEED", "is not set.", "set it to the seed (SA…) of the account whose public key is the server's auth_callout.issuer.");
  }
  if (!!env.NATS_USER !== !!env.NATS_PASSWORD) {
    throw new SetupError(env.NATS_USER ? "NATS_PASSWORD" : "NATS_USER", "is missing.", "set both NATS_USER and NATS_PASSWORD (the service's auth_users login).");
  }
  const callout = { issuerSeed, ...(env.NATS_CALLOUT_XKEY_SEED ? { xkeySeed: env.NATS_CALLOUT_XKEY_SEED } : {}) };
  try {
    AuthCalloutConfig.from(callout);
  } catch (e) {
    // Name the variable the operator sets, not the option behind it.
    if (e instanceof SetupError && e.setting in ENV_NAMES) throw new SetupError(ENV_NAMES[e.setting] as string, e.message.slice(e.setting.length + 2), undefined, { cause: e });
    throw e;
  }
  return {
    connection: {
      servers: env.NATS_URL ?? "nats://127.0.0.1:4222",
      ...(env.NATS_USER ? { user: env.NATS_USER, pass: env.NATS_PASSWORD as string } : {}),
    },
    callout,
  };
}
