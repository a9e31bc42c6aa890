import { TestBroker } from "@natsflow/testing";

import { kvSuite } from "./kv-suite.js";
import { kvWatchSuite } from "./kv-watch-suite.js";
import { objectStoreSuite } from "./object-store-suite.js";

kvSuite("the in-memory TestBroker", async () => {
  const broker = new TestBroker();
  return { connect: async () => broker.connect(), stop: async () => undefined };
});

kvWatchSuite("the in-memory TestBroker", async () => {
  const broker = new TestBroker();
  return { appOptions: () => ({ transport: broker.transport }), connect: async () => broker.connect(), stop: async () => undefined };
});

objectStoreSuite("the in-memory TestBroker", async () => {
  const broker = new TestBroker();
  return { appOptions: () => ({ transport: broker.transport }), connect: async () => broker.connect(), stop: async () => undefined };
});
