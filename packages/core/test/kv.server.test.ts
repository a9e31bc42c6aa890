import "reflect-metadata";

import { connectNats } from "@natsflow/core";
import { startNatsServer, type NatsServer } from "@natsflow/testing";
import { afterAll } from "vitest";

import { kvSuite } from "./kv-suite.js";
import { kvWatchSuite } from "./kv-watch-suite.js";
import { objectStoreSuite } from "./object-store-suite.js";

// One server for the file, shared by the suites.
let server: Promise<NatsServer> | undefined;
const shared = () => (server ??= startNatsServer({ jetstream: true }));
afterAll(async () => (await server)?.stop());

kvSuite("a real nats-server with JetStream", async () => {
  const s = await shared();
  return { connect: () => connectNats({ servers: s.url }), stop: async () => undefined };
});

kvWatchSuite("a real nats-server with JetStream", async () => {
  const s = await shared();
  return { appOptions: () => ({ servers: s.url }), connect: () => connectNats({ servers: s.url }), stop: async () => undefined };
});

objectStoreSuite("a real nats-server with JetStream", async () => {
  const s = await shared();
  return { appOptions: () => ({ servers: s.url }), connect: () => connectNats({ servers: s.url }), stop: async () => undefined };
});
