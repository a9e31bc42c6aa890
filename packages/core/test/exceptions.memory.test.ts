import { TestBroker } from "@natsflow/testing";

import { exceptionSuite } from "./exceptions-suite.js";

exceptionSuite("the in-memory TestBroker", async () => {
  const broker = new TestBroker();
  return { appOptions: () => ({ transport: broker.transport }), client: async () => broker.connect(), stop: async () => undefined };
});
