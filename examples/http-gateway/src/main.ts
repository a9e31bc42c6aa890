// Fastify and the natsflow app in one process, configured from the environment (see README.md).
// app.listen() owns the lifecycle: SIGINT/SIGTERM close the HTTP server, then drain NATS; one exit.
import "reflect-metadata";

import { SetupError } from "@natsflow/core";

import { createGatewayAppFromSettings } from "./settings.js";

try {
  const app = await createGatewayAppFromSettings();
  await app.listen();
} catch (e) {
  // A configuration problem is one readable line; anything else keeps its stack.
  console.error(e instanceof SetupError ? `configuration error: ${e.message}` : e);
  process.exit(1);
}
