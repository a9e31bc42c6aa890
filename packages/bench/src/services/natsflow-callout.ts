// The natsflow callout service (services/callout-app.ts) in a process of its own, for run.ts.
import calloutApp from "./callout-app.js";

const app = await calloutApp();
await app.start();
process.on("message", (m) => {
  if (m === "usage") process.send?.({ cpu: process.cpuUsage(), memory: process.memoryUsage() });
});
process.send?.("ready");
// natsflow's own signal handling: SIGTERM/SIGINT stop taking requests, finish in-flight ones, drain.
await app.listen();
process.exit(0);
