// The billing example against NATS_URL (default nats://127.0.0.1:4222), which needs JetStream on
// (`nats-server -js`); Ctrl-C stops it gracefully: no more pulls, in-flight orders billed and acked.
import "reflect-metadata";

import { SetupError } from "@natsflow/core";

import { createBillingApp } from "./app.js";

try {
  const app = await createBillingApp({
    servers: process.env.NATS_URL ?? "nats://127.0.0.1:4222",
    ...(process.env.NATS_USER ? { user: process.env.NATS_USER, pass: process.env.NATS_PASSWORD ?? "" } : {}),
  });
  await app.listen();
} catch (e) {
  console.error(e instanceof SetupError ? `configuration error: ${e.message}` : e);
  process.exit(1);
}
