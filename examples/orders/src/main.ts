// The orders service, configured from the environment (see README.md); SIGINT/SIGTERM stop it gracefully.
import "reflect-metadata";

import { SetupError } from "@natsflow/core";

import { createOrdersAppFromSettings } from "./settings.js";

try {
  const app = await createOrdersAppFromSettings();
  await app.listen();
} catch (e) {
  // A configuration problem is one readable line; anything else keeps its stack.
  console.error(e instanceof SetupError ? `configuration error: ${e.message}` : e);
  process.exit(1);
}
