// The scale-out benchmark's CPU-bound app, run by `natsflow run --workers N`: a request/reply handler
// in a queue group that chains SHA-256 synchronously (≈ 0.5–1 ms of CPU a request), so one worker
// is bound by its core, not by I/O. Configured by env (see run.ts).
import "reflect-metadata";

import { createHash } from "node:crypto";

import { Controller, createLogger, NatsApp, Subscribe } from "@natsflow/core";

const env = process.env;
const hashes = Number(env.BENCH_SCALE_HASHES ?? 300);

@Controller("bench")
class Work {
  @Subscribe("work", { queue: "bench-work" })
  work(): string {
    let digest = Buffer.alloc(32);
    for (let i = 0; i < hashes; i++) digest = createHash("sha256").update(digest).digest();
    return digest.toString("hex");
  }
}

export default () => NatsApp.create({ servers: env.NATS_URL as string, controllers: [Work], logger: createLogger({ level: "warn" }) });
