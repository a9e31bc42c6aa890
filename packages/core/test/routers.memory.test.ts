import { TestBroker } from "@natsflow/testing";

import { routerSuite } from "./router-suite.js";

routerSuite("the in-memory TestBroker", async () => {
  const broker = new TestBroker();
  return { appOptions: () => ({ transport: broker.transport }), client: async () => broker.connect(), stop: async () => undefined };
});
