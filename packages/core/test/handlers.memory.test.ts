import { TestBroker } from "@natsflow/testing";

import { handlerSuite } from "./handler-suite.js";

handlerSuite("the in-memory TestBroker", async () => {
  const broker = new TestBroker();
  return {
    appOptions: () => ({ transport: broker.transport }),
    client: async () => broker.connect(),
    // Routed as the server routes what a client published, past every transport's checks.
    rawRequest: (subject, data) => {
      const inbox = broker.connect();
      return new Promise((resolve, reject) => {
        inbox.subscribe("_INBOX.raw", {}, (m) => {
          void inbox.close();
          resolve({ data: m.data, code: m.headers?.get("Nats-Service-Error-Code") });
        });
        if (broker.route({ subject, data, reply: "_INBOX.raw" }) === 0) reject(new Error(`no responders on ${subject}`));
      });
    },
    stop: async () => undefined,
  };
});
