import { connectNats } from "@natsflow/core";
import { startNatsServer } from "@natsflow/testing";
import { connect } from "nats";

import { handlerSuite } from "./handler-suite.js";

handlerSuite("a real nats-server", async () => {
  const server = await startNatsServer();
  return {
    appOptions: () => ({ servers: server.url }),
    client: () => connectNats({ servers: server.url }),
    // The `nats` client sends any subject it is given.
    rawRequest: async (subject, data) => {
      const nc = await connect({ servers: server.url });
      try {
        const m = await nc.request(subject, data, { timeout: 2000 });
        return { data: m.data, code: m.headers?.get("Nats-Service-Error-Code") || undefined };
      } finally {
        await nc.close();
      }
    },
    stop: () => server.stop(),
  };
});
