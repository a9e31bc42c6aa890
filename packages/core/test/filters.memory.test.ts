import { TestBroker } from "@natsflow/testing";

import { filterSuite } from "./filter-suite.js";

filterSuite("the in-memory TestBroker", async () => {
  const broker = new TestBroker();
  return { appOptions: () => ({ transport: broker.transport }), client: async () => broker.connect(), stop: async () => undefined };
});
