import { TestBroker } from "@natsflow/testing";

import { publishersSuite } from "./publishers-suite.js";

publishersSuite("the in-memory TestBroker", async () => {
  const broker = new TestBroker();
  return { appOptions: () => ({ transport: broker.transport }), client: async () => broker.connect(), stop: async () => undefined };
});
