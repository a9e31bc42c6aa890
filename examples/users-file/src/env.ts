import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

import { AuthCalloutConfig } from "@natsflow/auth-callout";
import { SetupError } from "@natsflow/core";

import type { UsersFileServiceOptions } from "./service.js";
import { UserRepository } from "./users.js";

export const DEFAULT_USERS_FILE = fileURLToPath(new URL("../users.json", import.meta.url));

const ENV_NAMES: Record<string, string> = { issuerSeed: "NATS_CALLOUT_ISSUER_SEED", xkeySeed: "NATS_CALLOUT_XKEY_SEED" };

/**
 * The environment contract: NATS_URL, NATS_USER + NATS_PASSWORD (or NATS_CREDS, a .creds file path),
 * NATS_CALLOUT_ISSUER_SEED, optional NATS_CALLOUT_XKEY_SEED and USERS_FILE.
 */
export function optionsFromEnv(env: NodeJS.ProcessEnv = process.env): Omit<UsersFileServiceOptions, "logger"> {
  const issuerSeed = env.NATS_CALLOUT_ISSUER_SEED;
  if (!issuerSeed) {
    throw new SetupError(
      "NATS_CALLOUT_ISSUER_SEED",
      "is not set.",
      "set it to the seed (SA…) of the account whose public key is the server's auth_callout.issuer.",
    );
  }
  if (env.NATS_CREDS && (env.NATS_USER || env.NATS_PASSWORD)) {
    throw new SetupError("NATS_CREDS", "cannot be combined with NATS_USER/NATS_PASSWORD.", "use one way to log in.");
  }
  if (!!env.NATS_USER !== !!env.NATS_PASSWORD) {
    throw new SetupError(env.NATS_USER ? "NATS_PASSWORD" : "NATS_USER", "is missing.", "set both NATS_USER and NATS_PASSWORD (the service's auth_users login).");
  }
  let creds: string | undefined;
  if (env.NATS_CREDS) {
    try {
      creds = readFileSync(env.NATS_CREDS, "utf8");
    } catch (e) {
      throw new SetupError("NATS_CREDS", `cannot read ${env.NATS_CREDS}: ${(e as Error).message}.`, "point it at a .creds file.", { cause: e });
    }
  }
  const callout = { issuerSeed, ...(env.NATS_CALLOUT_XKEY_SEED ? { xkeySeed: env.NATS_CALLOUT_XKEY_SEED } : {}) };
  try {
    AuthCalloutConfig.from(callout);
  } catch (e) {
    // Name the variable the operator actually sets, not the option behind it.
    if (e instanceof SetupError && e.setting in ENV_NAMES) {
      throw new SetupError(ENV_NAMES[e.setting] as string, e.message.slice(e.setting.length + 2), undefined, { cause: e });
    }
    throw e;
  }
  return {
    connection: {
      servers: env.NATS_URL ?? "nats://127.0.0.1:4222",
      ...(env.NATS_USER ? { user: env.NATS_USER, pass: env.NATS_PASSWORD as string } : {}),
      ...(creds ? { creds } : {}),
    },
    callout,
    users: UserRepository.fromFile(env.USERS_FILE ?? DEFAULT_USERS_FILE),
  };
}
