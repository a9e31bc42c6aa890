/** Batch consumers against a real nats-server with JetStream: the shared suite (batch-suite.ts, also run on TestBroker). */
import { connectNats } from "@natsflow/core";
import { startNatsServer } from "@natsflow/testing";
import { connect } from "nats";

import { batchSuite } from "./batch-suite.js";

batchSuite("a real nats-server", async () => {
  const server = await startNatsServer({ jetstream: true });
  const nc = await connect({ servers: server.url });
  const jsm = await nc.jetstreamManager();
  return {
    appOptions: () => ({ servers: server.url }),
    client: () => connectNats({ servers: server.url }),
    consumerState: async (stream, durable) => {
      const info = await jsm.consumers.info(stream, durable);
      return { numPending: info.num_pending, numAckPending: info.num_ack_pending, numRedelivered: info.num_redelivered, ackFloor: info.ack_floor.stream_seq };
    },
    stop: async () => {
      await nc.close();
      await server.stop();
    },
  };
});
