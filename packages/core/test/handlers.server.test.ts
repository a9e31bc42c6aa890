import { connectNats } from "@natsflow/core";
import { startNatsServer } from "@natsflow/testing";

import { handlerSuite } from "./handler-suite.js";

handlerSuite("a real nats-server", async () => {
  const server = await startNatsServer();
  return { appOptions: () => ({ servers: server.url }), client: () => connectNats({ servers: server.url }), stop: () => server.stop() };
});
