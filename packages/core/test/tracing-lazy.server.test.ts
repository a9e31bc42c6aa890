/**
 * `@opentelemetry/api` is imported by natsflow only when tracing will be on: an app with no SDK
 * registered and `tracing` unset never imports it; `tracing: true`, or an SDK registered before
 * `start()`, imports it at `start()`, and spans are made.
 *
 * Each app runs in a process of its own (a module, once loaded, stays loaded), recording every
 * ES-module import of the API and who imported it. prom-client still `require`s
 * the API for itself while it is loaded at start-up; that CommonJS load is not natsflow's and not
 * what this file checks.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

import { recordImports, spawnTracked, startNatsServer, type NatsServer } from "@natsflow/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

let server: NatsServer;
let dir: string;
beforeAll(async () => {
  server = await startNatsServer();
  dir = await mkdtemp(join(tmpdir(), "natsflow-tracing-lazy-"));
});
afterAll(async () => {
  await server?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const core = fileURLToPath(new URL("../dist/index.js", import.meta.url));
const coreDist = pathToFileURL(fileURLToPath(new URL("../dist/", import.meta.url))).href;

interface Report {
  reply: unknown;
  spans: string[];
}

/** Starts an app (`tracing` as given, an SDK registered first or not), sends it one request, and reports. */
async function run(label: string, tracing: boolean | undefined, sdk: boolean): Promise<{ report: Report; importers: string[] }> {
  const imports = recordImports(join(dir, `${label}.log`));
  const script = `
    await import("reflect-metadata");
    const { Controller, NatsApp, Payload, Subscribe } = await import(${JSON.stringify(core)});
    const spans = ${sdk} ? (await import("@natsflow/testing")).captureSpans() : undefined;
    class Echo {
      ping(body) {
        return { pong: body.text };
      }
    }
    Payload()(Echo.prototype, "ping", 0);
    Subscribe("lazy.ping", {})(Echo.prototype, "ping", Object.getOwnPropertyDescriptor(Echo.prototype, "ping"));
    Controller()(Echo);
    const app = await NatsApp.create({ servers: ${JSON.stringify(server.url)}, controllers: [Echo], tracing: ${JSON.stringify(tracing)} });
    await app.start();
    const reply = await app.broker.request("lazy.ping", { text: "hello" }, { timeoutMs: 5000 });
    // The handler's span ends just after its reply is sent.
    for (let i = 0; spans && i < 200 && spans.find(/^process /).length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    await app.stop();
    console.log("REPORT " + JSON.stringify({ reply, spans: spans ? spans.spans().map((s) => s.name).sort() : [] }));
  `;
  const child = spawnTracked(process.execPath, [...imports.execArgv, "--input-type=module", "-e", script], { label, env: { ...process.env, ...imports.env, LOG_LEVEL: "warn" } });
  const exit = await child.exited;
  expect(exit, child.output.slice(-2000)).toMatchObject({ code: 0 });
  const line = /REPORT (.*)/.exec(child.output);
  expect(line, child.output.slice(-2000)).not.toBeNull();
  const importers = (await imports.read()).filter((m) => m.url.includes("/@opentelemetry/api/")).map((m) => m.parent);
  return { report: JSON.parse((line as RegExpExecArray)[1] as string) as Report, importers };
}

describe("loading @opentelemetry/api", () => {
  it("with no SDK registered and tracing unset: the app serves, and natsflow never imports the API", async () => {
    const { report, importers } = await run("no sdk, tracing unset", undefined, false);
    expect(report.reply).toEqual({ pong: "hello" });
    expect(importers).toEqual([]);
  }, 30_000);

  it("with tracing: false and an SDK registered: natsflow does not import the API, and makes no span", async () => {
    const { report, importers } = await run("sdk, tracing false", false, true);
    expect(report.reply).toEqual({ pong: "hello" });
    expect(importers.filter((parent) => parent.startsWith(coreDist))).toEqual([]);
    expect(report.spans).toEqual([]);
  }, 30_000);

  it("with tracing: true: natsflow imports the API at start()", async () => {
    const { report, importers } = await run("tracing true", true, false);
    expect(report.reply).toEqual({ pong: "hello" });
    expect(importers).toEqual([`${coreDist}observability/tracing.js`]);
  }, 30_000);

  it("with an SDK registered before start(): natsflow imports the API and makes the message's spans", async () => {
    const { report, importers } = await run("sdk, tracing unset", undefined, true);
    expect(report.reply).toEqual({ pong: "hello" });
    expect(importers.filter((parent) => parent.startsWith(coreDist))).toEqual([`${coreDist}observability/tracing.js`]);
    expect(report.spans).toEqual(["process lazy.ping", "send lazy.ping"]);
  }, 30_000);
});
