// The service against any nats-server configured for the callout (see README), its users in SQL.
import "reflect-metadata";

import { SetupError } from "@natsflow/core";

import { openDatabase } from "./database.js";
import { createUsersDbService } from "./service.js";
import { databaseFromSettings } from "./settings.js";

try {
  const app = await createUsersDbService({ database: await openDatabase(await databaseFromSettings()) });
  await app.listen();
} catch (e) {
  // A configuration problem is one readable line; anything else keeps its stack.
  console.error(e instanceof SetupError ? `configuration error: ${e.message}` : e);
  process.exit(e instanceof SetupError ? 2 : 1);
}
