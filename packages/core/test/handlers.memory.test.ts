import { TestBroker } from "@natsflow/testing";

import { handlerSuite } from "./handler-suite.js";

handlerSuite("the in-memory TestBroker", async () => {
  const broker = new TestBroker();
  return { appOptions: () => ({ transport: broker.transport }), client: async () => broker.connect(), stop: async () => undefined };
});
