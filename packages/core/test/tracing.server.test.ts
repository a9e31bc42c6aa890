import { connectNats } from "@natsflow/core";
import { startNatsServer, type NatsServer } from "@natsflow/testing";

import { tracingSuite } from "./tracing-suite.js";

tracingSuite("a real nats-server", async () => {
  const server: NatsServer = await startNatsServer({ jetstream: true });
  return { appOptions: () => ({ servers: server.url }), client: () => connectNats({ servers: server.url }), stop: () => server.stop() };
});
