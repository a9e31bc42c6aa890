// The scale-out benchmark's CPU-bound app, run by `natsflow run --workers N`: a request/reply handler
// in a queue group doing services/work.ts synchronously, so one worker is bound by its core, not by
// I/O. Configured by env (see run.ts).
import "reflect-metadata";

import { Controller, createLogger, NatsApp, Subscribe } from "@natsflow/core";

import { work } from "./work.js";

@Controller("bench")
class Work {
  @Subscribe("work", { queue: "bench-work" })
  work(): string {
    return work();
  }
}

export default () => NatsApp.create({ servers: process.env.NATS_URL as string, controllers: [Work], logger: createLogger({ level: "warn" }) });
