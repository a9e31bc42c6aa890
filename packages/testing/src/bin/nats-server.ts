#!/usr/bin/env node
// Prints the path of a nats-server ≥ 2.10, provisioning one into the cache first when needed.
import { resolveNatsServer } from "../nats-server/resolve.js";

try {
  const server = await resolveNatsServer();
  console.error(`nats-server ${server.version} (${server.source})`);
  console.log(server.path);
} catch (e) {
  console.error((e as Error).message);
  process.exit(1);
}
