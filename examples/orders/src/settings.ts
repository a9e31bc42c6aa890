import { readFileSync } from "node:fs";

import { loadSettings, type NatsApp } from "@natsflow/core";
import { z } from "zod";

import { createOrdersApp } from "./app.js";

/** This package's version, the default SERVICE_VERSION. */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }).version;
}

/**
 * The service's own variables (the connection's — NATS_URL, NATS_USER/NATS_PASSWORD, … — are read
 * by NatsApp itself). The same rules NATS micro applies, so a mistake is named by its variable.
 */
export const OrdersSettings = z.object({
  SERVICE_NAME: z.string().regex(/^[A-Za-z0-9_-]+$/, "must be letters, digits, - and _ only").default("orders"),
  SERVICE_VERSION: z.string().regex(/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/, "must be a semantic version like 1.2.0").default(packageVersion()),
});

/** The app as the environment (and .env) configure it: what `main.ts`, `natsflow dev` and `docs gen` run. */
export async function createOrdersAppFromSettings(): Promise<NatsApp> {
  const settings = await loadSettings(OrdersSettings);
  return createOrdersApp({ service: { name: settings.SERVICE_NAME, version: settings.SERVICE_VERSION } });
}
