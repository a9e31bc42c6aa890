/**
 * The lifecycle suite on a real nats-server whose `app` user may not subscribe to `lifecycle.secret.>`,
 * then what only a server shows: that the drain at stop, not luck, answers what was already on its way.
 */
import "reflect-metadata";
import { createServer, type AddressInfo, type Socket } from "node:net";
import { fileURLToPath } from "node:url";

import { connectNats, Controller, NatsApp, Payload, Subscribe, type Transport } from "@natsflow/core";
import { captureLogs, spawnTracked, startNatsServer, type NatsServer } from "@natsflow/testing";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";

import { lifecycleSuite } from "./lifecycle-suite.js";

const APP = { user: "app", pass: "app-pass" };
const CLIENT = { user: "client", pass: "client-pass" };
const config = {
  authorization: {
    users: [
      { ...APP, password: APP.pass, permissions: { subscribe: { deny: ["lifecycle.secret.>"] } } },
      { ...CLIENT, password: CLIENT.pass },
    ].map(({ pass: _, ...user }) => user),
  },
};

let server: NatsServer;
beforeAll(async () => {
  server = await startNatsServer({ config });
});
afterAll(async () => {
  await server?.stop();
});

lifecycleSuite("a real nats-server", async () => ({
  appOptions: () => ({ servers: server.url, ...APP }),
  client: () => connectNats({ servers: server.url, ...CLIENT }),
  deniedPrefix: "lifecycle.secret",
  stop: async () => undefined,
}));

describe("stop() on a real nats-server", () => {
  @Controller("drain.proof")
  class Slow {
    @Subscribe("work", { codec: "string", concurrency: 8 })
    async work(@Payload() n: string) {
      await new Promise((r) => setTimeout(r, 5));
      return n;
    }
  }

  /** Requests sent and flushed on another connection right before stop(): how many are answered. */
  async function answeredAcrossStop(transport?: (t: Transport) => Transport): Promise<{ answered: number; timedOut: number }> {
    const app = await NatsApp.create({
      servers: server.url,
      ...APP,
      controllers: [Slow],
      logger: captureLogs().logger,
      ...(transport ? { transport: async (o) => transport(await connectNats(o)) } : {}),
    });
    await app.start();
    const client = await connectNats({ servers: server.url, ...CLIENT });
    const enc = new TextEncoder();
    const replies = Array.from({ length: 500 }, (_, i) =>
      client.request("drain.proof.work", enc.encode(String(i)), { timeoutMs: 3000 }).then(
        () => "answered" as const,
        () => "timedOut" as const,
      ),
    );
    await client.flush();
    await app.stop();
    const outcomes = await Promise.all(replies);
    await client.close();
    return { answered: outcomes.filter((o) => o === "answered").length, timedOut: outcomes.filter((o) => o === "timedOut").length };
  }

  it("answers every request sent before stop(); an unsubscribe instead of the drain would leave some to time out", async () => {
    expect(await answeredAcrossStop()).toEqual({ answered: 500, timedOut: 0 });
    // The same stop, with each subscription's drain replaced by the old unsubscribe.
    const unsubscribing = (t: Transport): Transport =>
      Object.assign(Object.create(t) as Transport, {
        subscribe: (...args: Parameters<Transport["subscribe"]>) => {
          const sub = t.subscribe(...args);
          return { subject: sub.subject, unsubscribe: () => sub.unsubscribe(), drain: async () => sub.unsubscribe() };
        },
      });
    // How many the unsubscribe loses depends on what the client had read by then: a busy machine may
    // have read them all, so it is given a few tries to show the loss.
    let lost = 0;
    for (let attempt = 0; attempt < 5 && lost === 0; attempt++) lost = (await answeredAcrossStop(unsubscribing)).timedOut;
    expect(lost).toBeGreaterThan(0);
  });
});

describe("a SIGTERM'd process whose onShutdown hook hangs", () => {
  it("exits within shutdownTimeoutMs (plus a margin), naming the stuck hook", async () => {
    const core = fileURLToPath(new URL("../dist/index.js", import.meta.url));
    const budget = 500;
    // A hook holding a timer and never finishing, like a pool whose server went away. The script ends
    // as `natsflow run` does: the process exits once listen() returns.
    const script = `
      import { NatsApp } from ${JSON.stringify(core)};
      class StuckPool {
        onShutdown() {
          return new Promise(() => setInterval(() => {}, 1000));
        }
      }
      const app = await NatsApp.create({ servers: ${JSON.stringify(server.url)}, ...${JSON.stringify(APP)}, providers: [StuckPool], shutdownTimeoutMs: ${budget} });
      await app.listen();
      process.exit(0);
    `;
    const child = spawnTracked(process.execPath, ["--input-type=module", "-e", script], { label: "stuck onShutdown app" });
    await child.waitForOutput(/natsflow app started/);
    const sent = Date.now();
    child.child.kill("SIGTERM");
    const exit = await Promise.race([child.exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), budget + 5_000))]);
    if (exit === undefined) child.child.kill("SIGKILL");
    expect(exit, `still running ${Date.now() - sent} ms after SIGTERM`).toMatchObject({ code: 0 });
    expect(child.output).toMatch(/shutdown timeout: StuckPool\.onShutdown did not finish/);
  });
});

describe("stop() while connecting to a server that never answers", () => {
  it("returns at once instead of waiting out the connect timeout, and the late connection is not kept", async () => {
    // Accepts the TCP connection and never sends INFO: the client waits for its connect timeout.
    const sockets = new Set<Socket>();
    const silent = createServer((s) => void sockets.add(s.on("close", () => sockets.delete(s))));
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    const { port } = silent.address() as AddressInfo;
    const logs = captureLogs();
    const app = await NatsApp.create({ servers: `nats://127.0.0.1:${port}`, connectTimeoutMs: 20_000, logger: logs.logger });
    try {
      const starting = app.start();
      await vi.waitFor(() => expect(sockets.size).toBe(1));
      const stopped = app.stop().then(() => "stopped" as const);
      const outcome = await Promise.race([stopped, new Promise((r) => setTimeout(() => r("still waiting"), 5_000))]);
      expect(outcome).toBe("stopped");
      await expect(starting).resolves.toBeUndefined();
      expect(app.isRunning).toBe(false);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => silent.close(r));
    }
  });
});
