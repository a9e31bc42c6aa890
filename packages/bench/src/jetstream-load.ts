// Fills the benchmark stream with N orders, awaiting every PubAck, PUBLISH_WINDOW at a time: with the
// raw client (`js.publish`) or natsflow's `broker.jetstream.publish`. Prints the publish rate.
import "reflect-metadata";

import { createLogger, NatsApp } from "@natsflow/core";
import { connect } from "nats";

import { PUBLISH_WINDOW } from "./jetstream-setup.js";

const [url, mode, subject, n] = process.argv.slice(2) as [string, string, string, string];
const total = Number(n);
const order = { id: 42, item: "tea", qty: 2, note: "x".repeat(64) };
let publish: (i: number) => Promise<unknown>;
let close: () => Promise<unknown>;
if (mode === "raw") {
  const nc = await connect({ servers: url });
  const js = nc.jetstream();
  const te = new TextEncoder();
  publish = () => js.publish(subject, te.encode(JSON.stringify(order)));
  close = () => nc.close();
} else {
  // Publish-only: stdout carries the result, so only errors are logged.
  const app = await NatsApp.create({ servers: url, logger: createLogger({ level: "error" }) });
  await app.start();
  publish = () => app.broker.jetstream.publish(subject, order);
  close = () => app.stop();
}
let next = 0;
const started = performance.now();
await Promise.all(Array.from({ length: PUBLISH_WINDOW }, async () => {
  while (next < total) await publish(next++);
}));
const seconds = (performance.now() - started) / 1000;
await close();
console.log(JSON.stringify({ published: total, perSecond: total / seconds }));
