// The handler-overhead services: a trivial @Subscribe handler, or a raw `nats` subscription doing the
// same work (decode JSON, answer JSON / count). Mode from argv: "natsflow" or "raw".
import "reflect-metadata";

import { Controller, createLogger, NatsApp, Payload, Subscribe } from "@natsflow/core";
import { connect } from "nats";

const [mode, url] = process.argv.slice(2) as [string, string];
let received = 0;
let first = 0;
const expected = Number(process.env.PUBLISH_COUNT ?? 0);

function count(): void {
  if (received++ === 0) first = performance.now();
  if (received === expected) process.send?.({ received, ms: performance.now() - first });
}

if (mode === "raw") {
  const nc = await connect({ servers: url });
  const te = new TextEncoder();
  const td = new TextDecoder();
  nc.subscribe("bench.echo", { callback: (_e, m) => m.respond(te.encode(JSON.stringify(JSON.parse(td.decode(m.data))))) });
  nc.subscribe("bench.events", { callback: (_e, m) => void (JSON.parse(td.decode(m.data)), count()) });
  await nc.flush();
} else {
  @Controller("bench")
  class Bench {
    @Subscribe("echo", { concurrency: 1024 })
    echo(@Payload() body: unknown) {
      return body;
    }

    @Subscribe("events", { concurrency: 1024 })
    events(): void {
      count();
    }
  }
  const app = await NatsApp.create({ servers: url, controllers: [Bench], logger: createLogger({ level: "warn" }) });
  await app.start();
}
process.send?.("ready");
