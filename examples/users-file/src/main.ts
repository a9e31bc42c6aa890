// The service on its own, against any nats-server configured for the callout (see README "Environment").
import "reflect-metadata";

import { SetupError } from "@natsflow/core";

import { createUsersFileServiceFromSettings } from "./settings.js";

try {
  const app = await createUsersFileServiceFromSettings();
  await app.listen();
} catch (e) {
  // A configuration problem is one readable line; anything else keeps its stack.
  console.error(e instanceof SetupError ? `configuration error: ${e.message}` : e);
  process.exit(1);
}
