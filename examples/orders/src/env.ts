import { readFileSync } from "node:fs";

import { SetupError, type NatsApp } from "@natsflow/core";

import { createOrdersApp } from "./app.js";

/** The app option behind each variable, so a configuration error names what the operator sets. */
const ENV_NAMES: Record<string, string> = {
  servers: "NATS_URL",
  user: "NATS_USER",
  pass: "NATS_PASSWORD",
  "service.name": "SERVICE_NAME",
  "service.version": "SERVICE_VERSION",
};

/** This package's version, the default SERVICE_VERSION. */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }).version;
}

/**
 * The environment contract: NATS_URL (default nats://127.0.0.1:4222), NATS_USER + NATS_PASSWORD,
 * SERVICE_NAME (default "orders") and SERVICE_VERSION (default the package version). Throws a
 * `SetupError` naming the variable for a value that cannot work.
 */
export async function createOrdersAppFromEnv(env: NodeJS.ProcessEnv = process.env): Promise<NatsApp> {
  try {
    return await createOrdersApp({
      servers: env.NATS_URL ?? "nats://127.0.0.1:4222",
      ...(env.NATS_USER ? { user: env.NATS_USER, pass: env.NATS_PASSWORD ?? "" } : {}),
      service: { name: env.SERVICE_NAME ?? "orders", version: env.SERVICE_VERSION ?? packageVersion() },
    });
  } catch (e) {
    const name = e instanceof SetupError ? ENV_NAMES[e.setting] : undefined;
    if (e instanceof SetupError && name) throw new SetupError(name, e.message.slice(e.setting.length + 2), undefined, { cause: e });
    throw e;
  }
}
