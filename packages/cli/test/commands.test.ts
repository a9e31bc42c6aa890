// natsflow run (TypeScript, --workers, --watch, SIGTERM), dev, request/publish, docs and creds, as
// processes against a real nats-server; and the same app under tsx, which emits no metadata.
import "reflect-metadata";

import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { connect as connectTcp } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

import { connectNats, type Transport } from "@natsflow/core";
import { freePort, spawnTracked, startNatsServer, type NatsServer, type TrackedProcess } from "@natsflow/testing";
import { parse as parseYaml } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { runTracked } from "./run.js";

const CLI = fileURLToPath(new URL("../dist/main.js", import.meta.url));
const FIXTURE = fileURLToPath(new URL("./fixtures/greeter/", import.meta.url));
const HERE = fileURLToPath(new URL(".", import.meta.url));
const enc = new TextEncoder();
const dec = new TextDecoder();

let server: NatsServer;
let client: Transport;
let work: string;

beforeAll(async () => {
  server = await startNatsServer();
  client = await connectNats({ servers: server.url });
  // Inside the repository, so the copy resolves @natsflow/core like the fixture does.
  work = await mkdtemp(join(HERE, ".tmp-cli-"));
  await cp(FIXTURE, work, { recursive: true });
});
afterAll(async () => {
  await client?.close();
  await server?.stop();
  await rm(work, { recursive: true, force: true });
});

const cli = (args: string[], env: NodeJS.ProcessEnv = {}): TrackedProcess =>
  spawnTracked(process.execPath, [CLI, ...args], { label: `natsflow ${args.join(" ")}`, env: { ...process.env, NATS_URL: server.url, ...env } });

const ask = async (subject: string, body = "", timeoutMs = 3_000) => dec.decode((await client.request(subject, enc.encode(body), { timeoutMs })).data);

/** Asks until the app answers (it is starting). */
async function answered(subject: string, body: string, within = 10_000): Promise<string> {
  const until = Date.now() + within;
  for (;;) {
    try {
      return await ask(subject, body, 1_000);
    } catch (e) {
      if (Date.now() > until) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

describe("natsflow run", () => {
  it("runs a TypeScript module's factory with constructor injection; SIGTERM answers the request in flight, then exits 0", async () => {
    const app = cli(["run", join(work, "app.ts#createApp")]);
    expect(await answered("fixture.hello", "ann")).toMatch(/^Hello, ann from \d+$/);
    const slow = ask("fixture.slow");
    await new Promise((r) => setTimeout(r, 100));
    void app.stop();
    expect(await slow).toBe("done");
    expect((await app.exited).code).toBe(0);
  });

  it("SIGTERM that arrives as start() ends (dispatched after it) still stops the app, exit 0", async () => {
    const app = cli(["run", join(work, "app.ts#createBusyReadyApp")]);
    await app.waitForOutput(/busy onReady/, 10_000);
    void app.stop();
    const exit = await Promise.race([app.exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), 8_000))]);
    if (exit === undefined) await app.stop("SIGKILL");
    expect(exit, app.output.slice(-2000)).toMatchObject({ code: 0 });
  });

  it("SIGTERM with a handler that outlasts shutdownTimeoutMs: the process exits at the deadline, not when the handler's timer ends", async () => {
    const app = cli(["run", join(work, "app.ts#createQuickStopApp")]);
    await answered("fixture.hello", "x");
    void ask("fixture.stuck", "", 60_000).catch(() => undefined);
    // Time for the request to reach the handler.
    await new Promise((r) => setTimeout(r, 300));
    void app.stop();
    const exit = await Promise.race([app.exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), 5_500))]);
    if (exit === undefined) await app.stop("SIGKILL");
    expect(exit, app.output.slice(-2000)).toMatchObject({ code: 0 });
    expect(app.output).toMatch(/shutdown timeout: closing with 1 message\(s\) still in flight/);
  });

  it("--workers 2: both workers serve the queue group; SIGTERM stops both, exit 0", async () => {
    const app = cli(["run", join(work, "app.ts#createApp"), "--workers", "2"]);
    await answered("fixture.hello", "x");
    // The second worker may still be connecting: ask until both have answered.
    const pids = new Set<string>();
    for (const until = Date.now() + 10_000; pids.size < 2 && Date.now() < until; ) pids.add((await ask("fixture.hello", "x")).split(" from ")[1] as string);
    expect(pids.size).toBe(2);
    void app.stop();
    expect((await app.exited).code).toBe(0);
  });

  it("--watch: an edited handler changes the reply, and no request is lost meanwhile", async () => {
    const app = cli(["run", join(work, "app.ts#createApp"), "--watch"]);
    try {
      await answered("fixture.hello", "bo");
      let lost = 0;
      let changed = false;
      const asking = (async () => {
        while (!changed) {
          try {
            changed = (await ask("fixture.hello", "bo", 5_000)).startsWith("Hi,");
          } catch {
            lost++;
          }
        }
      })();
      await writeFile(join(work, "greeting.ts"), 'export const GREETING = "Hi";\n');
      await Promise.race([asking, new Promise((_, reject) => setTimeout(() => reject(new Error("the reply never changed")), 20_000))]);
      expect(lost).toBe(0);
      expect(app.output, app.output.slice(-3000)).toMatch(/change detected/);
    } finally {
      void app.stop();
      await writeFile(join(work, "greeting.ts"), 'export const GREETING = "Hello";\n');
    }
    expect((await app.exited).code).toBe(0);
  }, 40_000);

  it("--env-file: the app reads its settings from the file", async () => {
    await writeFile(join(work, "app.env"), `NATS_URL=${server.url}\n`);
    const { NATS_URL: _, ...env } = process.env;
    const app = spawnTracked(process.execPath, [CLI, "run", join(work, "app.ts#createApp"), "--env-file", join(work, "app.env")], { label: "natsflow run --env-file", env });
    expect(await answered("fixture.hello", "env")).toMatch(/^Hello, env from/);
    void app.stop();
    expect((await app.exited).code).toBe(0);
    // Node 20 itself reads an --env-file anywhere on its command line, and exits 9 when it is missing.
    const missing = await runTracked(process.execPath, [CLI, "run", join(work, "app.ts"), "--env-file", join(work, "nope.env")]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/nope\.env/);
  });

  it("exits 2 with a usage line for a module that is not there or exports no app", async () => {
    const missing = await runTracked(process.execPath, [CLI, "run", join(work, "nope.ts")]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/nope\.ts: no such file/);
    const notApp = await runTracked(process.execPath, [CLI, "run", `${join(work, "greeting.ts")}#GREETING`]);
    expect(notApp.code).toBe(2);
    expect(notApp.stderr).toMatch(/is not a NatsApp nor a function returning one/);
  });
});

describe("the same app under tsx (no decorator metadata)", () => {
  it("injects through explicit @inject tokens, which need no types", async () => {
    const tsx = fileURLToPath(new URL("../../../node_modules/tsx/dist/cli.mjs", import.meta.url));
    const result = await runTracked(process.execPath, [tsx, "explicit.ts"], { cwd: work });
    expect(result.stdout).toMatch(/^reply: Hello, tsx$/m);
  });

  it("by constructor types is refused at create with a SetupError naming the class and the fix", async () => {
    const tsx = fileURLToPath(new URL("../../../node_modules/tsx/dist/cli.mjs", import.meta.url));
    // tsx reads the project's tsconfig (decorators on) from where it runs.
    const result = await runTracked(process.execPath, [tsx, "under-tsx.ts"], { cwd: work });
    expect(result.stdout).toMatch(/^SetupError: controllers\[0\] \(Greet\): cannot be created: .*no decorator metadata.*Fix: /m);
  });
});

describe("natsflow request and publish", () => {
  it("prints the reply; an error reply prints as code and text and exits 1", async () => {
    const app = cli(["run", join(work, "app.ts#createApp")]);
    try {
      await answered("fixture.hello", "x");
      const ok = await runTracked(process.execPath, [CLI, "request", "fixture.hello", "cy", "--server", server.url]);
      expect(ok.code).toBe(0);
      expect(ok.stdout).toMatch(/^Hello, cy from \d+\n$/);
      const failed = await runTracked(process.execPath, [CLI, "request", "fixture.missing", "{}", "--server", server.url]);
      expect(failed.code).toBe(1);
      expect(failed.stderr).toBe("404 order 7 not found\n");
      const got: string[] = [];
      client.subscribe("cli.events", {}, (m) => got.push(`${m.headers?.get("X-Kind")}:${dec.decode(m.data)}`));
      await client.flush();
      const published = await runTracked(process.execPath, [CLI, "publish", "cli.events", '{"n":1}', "--header", "X-Kind=test", "--server", server.url]);
      expect(published.code).toBe(0);
      await expect.poll(() => got).toEqual(['test:{"n":1}']);
    } finally {
      void app.stop();
    }
    expect((await app.exited).code).toBe(0);
  });
});

describe("natsflow docs", () => {
  it("gen writes the app's AsyncAPI document as YAML without starting it", async () => {
    const out = join(work, "asyncapi.yaml");
    const result = await runTracked(process.execPath, [CLI, "docs", "gen", join(work, "app.ts#createApp"), "-o", out]);
    expect(result.code).toBe(0);
    const doc = parseYaml(await readFile(out, "utf8")) as { asyncapi: string; channels: Record<string, { address: string }> };
    expect(doc.asyncapi).toBe("3.0.0");
    expect(Object.values(doc.channels).map((c) => c.address)).toContain("fixture.hello");
  });
});

/** Writes `raw` to an HTTP server and returns the status line of its answer ("" when it closes without one). */
function rawHttp(port: number, raw: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connectTcp(port, "127.0.0.1");
    let text = "";
    socket.on("data", (c: Buffer) => (text += c.toString("latin1")));
    socket.once("error", reject);
    socket.once("close", () => resolve(text.split("\r\n")[0] as string));
    socket.end(raw);
  });
}

describe("natsflow docs serve", () => {
  it("answers a malformed request 400 and keeps serving", async () => {
    const docs = cli(["docs", "serve", join(work, "app.ts#createApp"), "--port", "0"]);
    try {
      await docs.waitForOutput(/http:\/\/127\.0\.0\.1:(\d+)\//);
      const port = Number(/http:\/\/127\.0\.0\.1:(\d+)\//.exec(docs.output)?.[1]);
      const normal = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
      for (const bad of ["GET /\x00 HTTP/1.1\r\n\r\n", "garbage\r\n\r\n", "GET http://[ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"]) {
        expect(await rawHttp(port, bad), JSON.stringify(bad)).toBe("HTTP/1.1 400 Bad Request");
        expect(await rawHttp(port, normal), `after ${JSON.stringify(bad)}:\n${docs.output.slice(-2000)}`).toBe("HTTP/1.1 200 OK");
      }
    } finally {
      void docs.stop();
    }
    expect((await docs.exited).code).toBe(0);
  });
});

describe("natsflow dev", () => {
  it("runs the README's first handler example (no servers option, no env code) on the --port it is given", async () => {
    const readme = await readFile(fileURLToPath(new URL("../../../README.md", import.meta.url)), "utf8");
    const block = [...readme.matchAll(/```ts\n([\s\S]*?)^```/gm)].map((m) => m[1] as string).find((code) => code.includes("export const app = await NatsApp.create"));
    expect(block, "the README's handler example exporting its app").toBeDefined();
    expect(block).not.toMatch(/servers|process\.env/);
    const file = join(work, "readme-app.ts");
    await writeFile(file, `import "reflect-metadata";\n${block}`);
    const port = await freePort();
    const { NATS_URL: _, ...env } = process.env;
    const dev = spawnTracked(process.execPath, [CLI, "dev", file, "--port", String(port)], { label: "natsflow dev (README)", env });
    try {
      await dev.waitForOutput(new RegExp(`nats-server with JetStream at nats://127\\.0\\.0\\.1:${port}`));
      const own = await connectNats({ servers: `nats://127.0.0.1:${port}` });
      try {
        let reply: string | undefined;
        for (const until = Date.now() + 15_000; reply === undefined && Date.now() < until; ) {
          reply = await own.request("orders.create", enc.encode('{"item":"tea","qty":2}'), { timeoutMs: 500 }).then((m) => dec.decode(m.data), () => undefined);
        }
        expect(JSON.parse(reply ?? "null")).toMatchObject({ item: "tea", qty: 2, id: expect.any(String) });
        // Lines for a person: the start-up summary as a table of handlers, then each handled message.
        await dev.waitForOutput(/DEBUG orders\.create → /);
        const lines = dev.output.split("\n");
        expect(lines.filter((l) => l.startsWith("{"))).toEqual([]);
        expect(lines).toContainEqual(expect.stringMatching(/^\d\d:\d\d:\d\d\.\d{3} INFO  natsflow app started$/));
        expect(lines).toContainEqual(expect.stringMatching(/^ {2}handler +subject +queue$/));
        expect(lines).toContainEqual(expect.stringMatching(/^ {2}OrdersController\.create +orders\.create$/));
        expect(lines).toContainEqual(expect.stringMatching(/^ {2}OrdersController\.get +orders\.\*\.get +orders$/));
        expect(lines).toContainEqual(expect.stringMatching(/^\d\d:\d\d:\d\d\.\d{3} DEBUG orders\.create → OrdersController\.create ok [\d.]+ ms$/));
      } finally {
        await own.close();
      }
    } finally {
      void dev.stop();
    }
    expect((await dev.exited).code).toBe(0);
  }, 40_000);

  it("starts a nats-server with JetStream and the app, which serves within 10 s; Ctrl-C stops both", async () => {
    const started = Date.now();
    const dev = spawnTracked(process.execPath, [CLI, "dev", join(work, "app.ts#createApp"), "--port", "0"], { label: "natsflow dev", env: { ...process.env, NATS_URL: "" } });
    try {
      await dev.waitForOutput(/nats-server with JetStream at (nats:\/\/\S+)/);
      const url = /nats-server with JetStream at (nats:\/\/\S+)/.exec(dev.output)?.[1] as string;
      const own = await connectNats({ servers: url });
      try {
        const until = started + 10_000;
        let reply: string | undefined;
        while (reply === undefined && Date.now() < until) {
          reply = await own.request("fixture.hello", enc.encode("dee"), { timeoutMs: 500 }).then((m) => dec.decode(m.data), () => undefined);
        }
        expect(reply).toMatch(/^Hello, dee/);
        expect(Date.now() - started).toBeLessThan(10_000);
      } finally {
        await own.close();
      }
    } finally {
      void dev.stop();
    }
    expect((await dev.exited).code).toBe(0);
  }, 30_000);
});
