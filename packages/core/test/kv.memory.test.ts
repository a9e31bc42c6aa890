import { TestBroker } from "@natsflow/testing";

import { kvSuite } from "./kv-suite.js";

kvSuite("the in-memory TestBroker", async () => {
  const broker = new TestBroker();
  return { connect: async () => broker.connect(), stop: async () => undefined };
});
