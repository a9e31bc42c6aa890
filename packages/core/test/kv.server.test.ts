import { connectNats } from "@natsflow/core";
import { startNatsServer } from "@natsflow/testing";

import { kvSuite } from "./kv-suite.js";

kvSuite("a real nats-server with JetStream", async () => {
  const server = await startNatsServer({ jetstream: true });
  return { connect: () => connectNats({ servers: server.url }), stop: () => server.stop() };
});
