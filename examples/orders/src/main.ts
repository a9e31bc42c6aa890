// The orders service against NATS_URL (default nats://127.0.0.1:4222); Ctrl-C stops it gracefully.
import "reflect-metadata";

import { SetupError } from "@natsflow/core";

import { createOrdersApp } from "./app.js";

try {
  const app = await createOrdersApp({
    servers: process.env.NATS_URL ?? "nats://127.0.0.1:4222",
    ...(process.env.NATS_USER ? { user: process.env.NATS_USER, pass: process.env.NATS_PASSWORD ?? "" } : {}),
  });
  await app.listen();
} catch (e) {
  console.error(e instanceof SetupError ? `configuration error: ${e.message}` : e);
  process.exit(1);
}
