import { TestBroker } from "@natsflow/testing";

import { fastPathSuite } from "./fast-path-suite.js";

fastPathSuite("the in-memory TestBroker", async () => {
  const broker = new TestBroker();
  return { appOptions: () => ({ transport: broker.transport }), client: async () => broker.connect(), stop: async () => undefined };
});
