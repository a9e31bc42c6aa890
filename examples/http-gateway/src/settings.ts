import { loadSettings, type NatsApp } from "@natsflow/core";
import { z } from "zod";

import { createGatewayApp } from "./app.js";

/**
 * The gateway's own variables (the connection's — NATS_URL, NATS_USER/NATS_PASSWORD, … — are read
 * by NatsApp itself).
 */
export const GatewaySettings = z.object({
  HTTP_PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HTTP_HOST: z.string().min(1).default("127.0.0.1"),
  // Below the app's 10 s shutdown budget, so a request in flight at SIGTERM ends inside it.
  UPSTREAM_TIMEOUT_MS: z.coerce.number().int().min(1).max(9000).default(3000),
  SERVE_ORDERS: z.stringbool().default(true),
});

/** The app as the environment (and .env) configure it: what `main.ts` and `natsflow dev` run. */
export async function createGatewayAppFromSettings(): Promise<NatsApp> {
  const s = await loadSettings(GatewaySettings);
  return createGatewayApp({ http: { port: s.HTTP_PORT, host: s.HTTP_HOST, upstreamTimeoutMs: s.UPSTREAM_TIMEOUT_MS }, serveOrders: s.SERVE_ORDERS });
}
