// The service on its own, against any nats-server configured for the callout (see README "Environment").
import "reflect-metadata";

import { SetupError } from "@natsflow/core";

import { optionsFromEnv } from "./env.js";
import { createUsersFileService } from "./service.js";

try {
  const app = await createUsersFileService(optionsFromEnv());
  await app.listen();
} catch (e) {
  // A configuration problem is one readable line; anything else keeps its stack.
  console.error(e instanceof SetupError ? `configuration error: ${e.message}` : e);
  process.exit(1);
}
