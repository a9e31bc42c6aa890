/**
 * prom-client is loaded on first use: an app that nobody scrapes starts and serves without it, and
 * the first scrape (here over `http: { port }`) reports everything counted since the start.
 */
import { fileURLToPath } from "node:url";

import { spawnTracked, startNatsServer, type NatsServer } from "@natsflow/testing";
import { connect } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

let server: NatsServer;

beforeAll(async () => {
  server = await startNatsServer();
});

afterAll(async () => {
  await server?.stop();
});

describe("prom-client on first use", () => {
  it("is not loaded by an app handling messages, and the first /metrics holds every count from the start", async () => {
    const core = fileURLToPath(new URL("../dist/index.js", import.meta.url));
    // Decorators applied by hand: the script is plain JavaScript.
    const script = `
      import "reflect-metadata";
      import { createRequire } from "node:module";
      import { Controller, NatsApp, Subscribe } from ${JSON.stringify(core)};
      class Echo { echo(body) { return body; } }
      Subscribe("lazy.echo")(Echo.prototype, "echo");
      Controller()(Echo);
      const loaded = () => Object.keys(createRequire(${JSON.stringify(core)}).cache).some((k) => k.includes("/prom-client/"));
      const app = await NatsApp.create({ servers: ${JSON.stringify(server.url)}, controllers: [Echo], http: { port: 0 } });
      await app.start();
      console.log("after start: prom-client loaded=" + loaded());
      process.on("message", async (m) => {
        if (m === "check") console.log("after requests: prom-client loaded=" + loaded());
        if (m === "scrape") {
          const text = await (await fetch(app.httpUrl + "/metrics")).text();
          console.log("scraped: prom-client loaded=" + loaded() + " " + JSON.stringify(text.split("\\n").filter((l) => l.startsWith("natsflow_handler_messages_total{") || l.startsWith("natsflow_nats_connected "))));
        }
        if (m === "stop") { await app.stop(); process.exit(0); }
      });
      process.send("ready");
    `;
    const child = spawnTracked(process.execPath, ["--input-type=module", "-e", script], { label: "lazy metrics app", stdio: ["ignore", "pipe", "pipe", "ipc"] });
    await child.waitForOutput(/after start: prom-client loaded=/);
    expect(child.output).toMatch(/after start: prom-client loaded=false/);
    const nc = await connect({ servers: server.url });
    try {
      for (let i = 0; i < 7; i++) await nc.request("lazy.echo", new TextEncoder().encode(JSON.stringify({ i })), { timeout: 2000 });
    } finally {
      await nc.close();
    }
    child.child.send("check");
    await child.waitForOutput(/after requests: prom-client loaded=/);
    expect(child.output).toMatch(/after requests: prom-client loaded=false/);
    child.child.send("scrape");
    await child.waitForOutput(/scraped: /);
    expect(child.output).toMatch(/scraped: prom-client loaded=true/);
    expect(child.output).toContain('natsflow_handler_messages_total{handler=\\"Echo.echo\\",result=\\"ok\\"} 7');
    expect(child.output).toContain("natsflow_nats_connected 1");
    child.child.send("stop");
    expect(await child.exited).toMatchObject({ code: 0 });
  });
});
