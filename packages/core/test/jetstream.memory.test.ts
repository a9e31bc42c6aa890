import { TestBroker } from "@natsflow/testing";

import { jetstreamSuite } from "./jetstream-suite.js";

jetstreamSuite("the in-memory TestBroker", async () => {
  const broker = new TestBroker();
  return {
    appOptions: () => ({ transport: broker.transport }),
    client: async () => broker.connect(),
    consumerState: async (stream, durable) => broker.consumerState(stream, durable),
    stored: async (stream) => broker.streamMessages(stream).length,
    lastMessage: async (stream, subject) => {
      const m = broker.streamMessages(stream).findLast((s) => s.subject === subject);
      if (!m) throw new Error(`no message on ${subject} in ${stream}`);
      return { data: m.data, header: (name) => m.headers?.get(name) };
    },
    deleteStream: async (name) => broker.deleteStream(name),
    stop: async () => undefined,
  };
});
