// `npm start` at the repository root: a nats-server and the service, ready to try, until Ctrl-C.
import "reflect-metadata";

import { createLogger } from "@natsflow/core";

import { startLocalStack } from "./local-stack.js";

const port = Number(process.env.NATS_PORT ?? 4222);
let stack;
try {
  stack = await startLocalStack({ port, logger: createLogger({ level: process.env.LOG_LEVEL ?? "info" }) });
} catch (e) {
  console.error(`could not start (is port ${port} free? set NATS_PORT to another one): ${(e as Error).message}`);
  process.exit(1);
}

const { server, setup, users } = stack;
console.log(`
natsflow users-file auth callout is running.

  NATS URL   ${server.url}
  callout    issuer ${setup.issuer.publicKey}
             xkey   ${setup.xkey?.publicKey ?? "(none)"}
  users      ${users.names.map((n) => `${n}/${n}`).join(", ")}  (from users.json)

Try it with the nats CLI:
  nats --server ${server.url} --user alice --password alice pub test hello
  nats --server ${server.url} --user bob --password bob pub test hello   # permissions violation

Ctrl-C stops the service and the server.
`);

let stopping = false;
const shutdown = async () => {
  if (stopping) return;
  stopping = true;
  await stack.stop();
  console.log("stopped.");
  process.exit(0);
};
process.on("SIGINT", () => void shutdown());
process.on("SIGTERM", () => void shutdown());
