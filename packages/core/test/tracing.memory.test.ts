import { TestBroker } from "@natsflow/testing";

import { tracingSuite } from "./tracing-suite.js";

tracingSuite("the in-memory TestBroker", async () => {
  const broker = new TestBroker();
  return { appOptions: () => ({ transport: broker.transport }), client: async () => broker.connect(), stop: async () => undefined };
});
