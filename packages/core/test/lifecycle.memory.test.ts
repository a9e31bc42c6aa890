import { TestBroker } from "@natsflow/testing";

import { lifecycleSuite } from "./lifecycle-suite.js";

lifecycleSuite("the in-memory TestBroker", async () => {
  const broker = new TestBroker();
  broker.denySubscribe("lifecycle.secret.>");
  return { appOptions: () => ({ transport: broker.transport }), client: async () => broker.connect(), deniedPrefix: "lifecycle.secret", stop: async () => undefined };
});
