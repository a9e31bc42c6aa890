import { connectNats } from "@natsflow/core";
import { startNatsServer } from "@natsflow/testing";

import { fastPathSuite } from "./fast-path-suite.js";

fastPathSuite("a real nats-server", async () => {
  const server = await startNatsServer();
  return { appOptions: () => ({ servers: server.url }), client: () => connectNats({ servers: server.url }), stop: () => server.stop() };
});
