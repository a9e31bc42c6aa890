/**
 * A stop whose budget runs out under a JetStream handler slower than `shutdownTimeoutMs`: the
 * process ends at the deadline instead of when the handler's own timers end, and the message it was
 * handling goes back to the stream at once (nak'ed), not after the consumer's ack wait.
 */
import { fileURLToPath } from "node:url";

import { spawnTracked, startNatsServer, type NatsServer, type TrackedProcess } from "@natsflow/testing";
import { connect } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

let server: NatsServer;
beforeAll(async () => {
  server = await startNatsServer({ jetstream: true });
});
afterAll(async () => {
  await server?.stop();
});

const BUDGET_MS = 1_000;

/**
 * An app as the README writes one (its main ends with `await app.listen()`), whose handler takes
 * 30 s; the consumer's ack wait is 60 s, so a redelivery within seconds can only be the nak.
 */
function slowApp(label: string): TrackedProcess {
  const core = fileURLToPath(new URL("../dist/index.js", import.meta.url));
  const script = `
    import "reflect-metadata";
    import { Consume, Controller, Delivery, NatsApp, Payload, defineStream } from ${JSON.stringify(core)};
    const JOBS = defineStream({ name: "SLOW_JOBS", subjects: ["slow.jobs"] });
    class Worker {
      async run(job, delivery) {
        console.log("handling " + job.n + " delivery " + delivery.deliveries);
        await new Promise((r) => setTimeout(r, 30_000));
      }
    }
    Payload()(Worker.prototype, "run", 0);
    Delivery()(Worker.prototype, "run", 1);
    Consume("slow.jobs", { stream: JOBS, durable: "slow", ackWait: "60s" })(Worker.prototype, "run", Object.getOwnPropertyDescriptor(Worker.prototype, "run"));
    Controller()(Worker);
    const app = await NatsApp.create({ servers: ${JSON.stringify(server.url)}, controllers: [Worker], shutdownTimeoutMs: ${BUDGET_MS} });
    await app.listen();
  `;
  return spawnTracked(process.execPath, ["--input-type=module", "-e", script], { label });
}

/** SIGTERM, then the exit: undefined when the process is still alive `BUDGET_MS` + 5 s later (then killed). */
async function stopWithin(child: TrackedProcess) {
  const exit = await Promise.race([child.stop("SIGTERM"), new Promise<undefined>((r) => setTimeout(() => r(undefined), BUDGET_MS + 5_000))]);
  if (exit === undefined) await child.stop("SIGKILL");
  return exit;
}

describe("a SIGTERM'd app whose @Consume handler outlasts shutdownTimeoutMs", () => {
  it("exits at the deadline, and the unfinished message is redelivered at once to the next instance", async () => {
    const first = slowApp("slow consumer 1");
    await first.waitForOutput(/natsflow app started/);
    const nc = await connect({ servers: server.url });
    try {
      await nc.jetstream().publish("slow.jobs", new TextEncoder().encode(JSON.stringify({ n: 7 })));
    } finally {
      await nc.close();
    }
    await first.waitForOutput(/handling 7 delivery 1/);
    const exit = await stopWithin(first);
    expect(exit, `still running ${BUDGET_MS + 5_000} ms after SIGTERM:\n${first.output.slice(-2000)}`).toMatchObject({ code: 0, signal: null });
    expect(first.output).toMatch(/shutdown timeout: .*giving back 1 unfinished message/);

    // Redelivered well inside the 60 s ack wait: the stop nak'ed it.
    const second = slowApp("slow consumer 2");
    try {
      await second.waitForOutput(/handling 7 delivery 2/, 15_000);
    } finally {
      expect(await stopWithin(second)).toMatchObject({ code: 0, signal: null });
    }
  }, 60_000);
});
