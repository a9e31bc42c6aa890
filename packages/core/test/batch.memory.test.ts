import { TestBroker } from "@natsflow/testing";

import { batchSuite } from "./batch-suite.js";

batchSuite("the in-memory TestBroker", async () => {
  const broker = new TestBroker();
  return {
    appOptions: () => ({ transport: broker.transport }),
    client: async () => broker.connect(),
    consumerState: async (stream, durable) => broker.consumerState(stream, durable),
    stop: async () => undefined,
  };
});
