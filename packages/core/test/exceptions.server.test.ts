import { connectNats } from "@natsflow/core";
import { startNatsServer } from "@natsflow/testing";

import { exceptionSuite } from "./exceptions-suite.js";

exceptionSuite("a real nats-server", async () => {
  const server = await startNatsServer({ jetstream: true });
  return { appOptions: () => ({ servers: server.url }), client: () => connectNats({ servers: server.url }), stop: () => server.stop() };
});
