// From `npm create` to a passing test, outside this repository: every package packed as npm would
// publish it, the CLI and the create package installed from those tarballs, each example scaffolded
// with `natsflow new` (and with `create-natsflow`, which must make the same app), installed from the
// tarballs, and the scaffolded app's own `npm test` run.
import { mkdir, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

import { connectNats } from "@natsflow/core";
import { spawnTracked } from "@natsflow/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { cleanEnv, packWorkspaces, runOk, runTracked } from "./run.js";

const REPO = fileURLToPath(new URL("../../../", import.meta.url));
const WORKSPACES = ["packages/core", "packages/auth-callout", "packages/devkit", "packages/testing", "packages/cli", "packages/create-natsflow"];
const EXAMPLES = ["orders", "billing", "users-file", "users-db", "browser-websocket", "http-gateway"];
const install = ["install", "--prefer-offline", "--no-audit", "--no-fund"];

/** Every file under `dir`, relative, with its contents: two scaffolds compare equal when these do. */
async function tree(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (e.isFile()) out[relative(dir, join(e.parentPath, e.name))] = await readFile(join(e.parentPath, e.name), "utf8");
  }
  return out;
}

describe("scaffolded apps outside the repository", () => {
  let root: string;
  let packs: string;
  let tools: string;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "natsflow-scaffold-"));
    packs = join(root, "packs");
    tools = join(root, "tools");
    await mkdir(packs);
    await mkdir(tools);
    const packed = await packWorkspaces(REPO, packs, WORKSPACES);
    // The CLI ships the examples it scaffolds.
    expect(packed.get("natsflow")?.files.map((f) => f.path)).toEqual(expect.arrayContaining(["templates/orders/src/app.ts", "README.md", "LICENSE"]));
    // The tools a user would run: natsflow and create-natsflow, with their dependencies, from the tarballs.
    await runOk("npm", ["init", "-y"], { cwd: tools, env: cleanEnv(), label: "npm init (tools)" });
    await runOk("npm", [...install, ...[...packed.values()].map((p) => join(packs, p.filename))], { cwd: tools, env: cleanEnv(), label: "npm install (tools)" });
  }, 240_000);
  afterAll(() => rm(root, { recursive: true, force: true }));

  const bin = (name: string) => join(tools, "node_modules/.bin", name);

  for (const example of EXAMPLES) {
    it(`natsflow new --example ${example}: create-natsflow makes the same app; it installs from the tarballs and passes its own npm test`, async () => {
      const app = join(root, `app-${example}`);
      const created = join(root, `created-${example}`);
      await runOk(bin("natsflow"), ["new", app, "--example", example, "--tarballs", packs], { cwd: root, env: cleanEnv() });
      await runOk(bin("create-natsflow"), [created, "--example", example, "--tarballs", packs], { cwd: root, env: cleanEnv() });
      const [a, b] = [await tree(app), await tree(created)];
      // The app's name is its directory's.
      expect({ ...b, "package.json": b["package.json"]?.replace(`"created-${example}"`, `"app-${example}"`) }).toEqual(a);
      expect(Object.keys(a)).toEqual(expect.arrayContaining(["package.json", "tsconfig.json", "vitest.config.ts", ".env.example", "README.md"]));
      const pkg = JSON.parse(a["package.json"] as string) as { dependencies: Record<string, string> };
      expect(pkg.dependencies["@natsflow/core"]).toMatch(/^file:.*natsflow-core-\d/);
      await runOk("npm", install, { cwd: app, env: cleanEnv(), label: `npm install (${example})` });
      const test = await runTracked("npm", ["test"], { cwd: app, env: cleanEnv(), label: `npm test (${example})` });
      expect(test.code, `${test.stdout.slice(-4000)}\n${test.stderr.slice(-2000)}`).toBe(0);
    }, 300_000);
  }

  it("its dev script (natsflow dev) serves a request within 10 s of start; Ctrl-C stops the app and the server", async () => {
    const app = join(root, "app-orders");
    const script = (JSON.parse(await readFile(join(app, "package.json"), "utf8")) as { scripts: Record<string, string> }).scripts.dev as string;
    const [command, ...args] = script.split(" ");
    const started = Date.now();
    // The script's command itself: npm run would not pass the signal on to it.
    const dev = spawnTracked(join(app, "node_modules/.bin", command as string), [...args, "--port", "0"], { label: "natsflow dev (orders)", cwd: app, env: cleanEnv() });
    try {
      await dev.waitForOutput(/nats-server with JetStream at (nats:\/\/\S+)/, 10_000);
      const url = /nats-server with JetStream at (nats:\/\/\S+)/.exec(dev.output)?.[1] as string;
      const client = await connectNats({ servers: url });
      try {
        let reply: string | undefined;
        while (reply === undefined && Date.now() - started < 10_000) {
          reply = await client.request("orders.list", new Uint8Array(0), { timeoutMs: 500 }).then((m) => new TextDecoder().decode(m.data), () => undefined);
        }
        expect(reply).toBe("[]");
      } finally {
        await client.close();
      }
    } finally {
      void dev.stop();
    }
    expect((await dev.exited).code).toBe(0);
    // Its nats-server went with it.
    await expect(connectNats({ servers: /nats-server with JetStream at (nats:\/\/\S+)/.exec(dev.output)?.[1] as string, maxReconnectAttempts: 0, connectTimeoutMs: 500 })).rejects.toThrow();
  }, 60_000);

  it("refuses a directory that is not empty unless --force, and an example that does not exist", async () => {
    const taken = join(root, "app-orders");
    const refused = await runTracked(bin("natsflow"), ["new", taken, "--example", "orders"], { cwd: root, env: cleanEnv() });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/exists and is not empty.*--force/);
    const unknown = await runTracked(bin("natsflow"), ["new", join(root, "x"), "--example", "nope"], { cwd: root, env: cleanEnv() });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/--example nope: there is billing, browser-websocket, http-gateway, orders, users-db, users-file/);
  });
});
