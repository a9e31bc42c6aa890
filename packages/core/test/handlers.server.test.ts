import { startNatsServer } from "@natsflow/testing";

import { connectNats } from "../src/transport/nats-transport.js";
import { handlerSuite } from "./handler-suite.js";

handlerSuite("a real nats-server", async () => {
  const server = await startNatsServer();
  return { appOptions: () => ({ servers: server.url }), client: () => connectNats({ servers: server.url }), stop: () => server.stop() };
});
