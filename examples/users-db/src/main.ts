// The service against any nats-server configured for the callout (see README), its users in SQL.
import "reflect-metadata";

import { SetupError } from "@natsflow/core";

import { openDatabase } from "./database.js";
import { databaseFromEnv, serviceFromEnv } from "./env.js";
import { createUsersDbService } from "./service.js";

try {
  const options = serviceFromEnv();
  const app = await createUsersDbService({ ...options, database: await openDatabase(databaseFromEnv()) });
  await app.listen();
} catch (e) {
  // A configuration problem is one readable line; anything else keeps its stack.
  console.error(e instanceof SetupError ? `configuration error: ${e.message}` : e);
  process.exit(e instanceof SetupError ? 2 : 1);
}
