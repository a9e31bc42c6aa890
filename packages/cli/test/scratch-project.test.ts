// The first hour, outside this repository: the workspace packages packed as npm would publish them,
// installed into a fresh project made exactly as the README's install section says, a service with
// an authorizer and a controller built with tsc, a deployment from the installed `natsflow init`,
// and a real nats-server. A client logs in through the callout and gets an answer from the controller.
import { access, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

import { newAccountKey, registerSecret, spawnTracked, startNatsServer } from "@natsflow/testing";
import { connect } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { cleanEnv, packWorkspaces, runOk, runTracked } from "./run.js";

const REPO = fileURLToPath(new URL("../../../", import.meta.url));
const WORKSPACES: Record<string, string> = {
  "@natsflow/core": "packages/core",
  "@natsflow/auth-callout": "packages/auth-callout",
  "@natsflow/devkit": "packages/devkit",
  "@natsflow/testing": "packages/testing",
  natsflow: "packages/cli",
};
const ALICE_PASSWORD = "alice-in-the-scratch-project";
const APP_PASSWORD = "the-greeter-application-login";
registerSecret(ALICE_PASSWORD);
registerSecret(APP_PASSWORD);

/** The README's install section: its `npm install` commands and its tsconfig. */
async function installSection(): Promise<{ installs: string[][]; tsconfig: { compilerOptions: Record<string, unknown> } }> {
  const readme = await readFile(join(REPO, "README.md"), "utf8");
  const start = readme.indexOf("\n## Install\n");
  expect(start, "README has an ## Install section").toBeGreaterThan(-1);
  const section = readme.slice(start, readme.indexOf("\n## ", start + 1));
  const blocks = [...section.matchAll(/```(\w+)\n([\s\S]*?)```/g)].map((m) => ({ lang: m[1], text: m[2] as string }));
  const installs = blocks
    .filter((b) => b.lang === "sh")
    .flatMap((b) => b.text.split("\n"))
    .filter((l) => l.startsWith("npm install "))
    .map((l) => l.split(/\s+/).slice(2));
  const json = blocks.find((b) => b.lang === "json" && b.text.includes("compilerOptions"));
  expect(installs.length).toBeGreaterThan(0);
  expect(json, "the install section shows a tsconfig").toBeDefined();
  return { installs, tsconfig: JSON.parse(json?.text ?? "{}") as { compilerOptions: Record<string, unknown> } };
}

// A service as a user would write it: the callout and the application as two apps in one process
// (docs/auth-callout.md, "A callout and application handlers in one process").
const SERVICE = `import { AuthCallout, AuthError, authCalloutConfig, type Authorizer, type AuthRequest, type Grant } from "@natsflow/auth-callout";
import { Controller, NatsApp, Payload, Subscribe } from "@natsflow/core";

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(name + " is not set");
  return value;
};

class Greeter {
  greet(name: string): string {
    return "hello " + name;
  }
}

@AuthCallout()
class DemoAuthorizer implements Authorizer {
  private readonly passwords = new Map([
    ["alice", env("ALICE_PASSWORD")],
    ["greeter", env("APP_PASSWORD")],
  ]);

  authorize(req: AuthRequest): Grant {
    const expected = this.passwords.get(req.username ?? "");
    if (expected === undefined || req.password !== expected) throw new AuthError("invalid credentials");
    return { account: "APP", permissions: "all" };
  }
}

@Controller("greet")
class GreetController {
  constructor(private readonly greeter: Greeter) {}

  @Subscribe("hello")
  hello(@Payload() name: string): string {
    return this.greeter.greet(name);
  }
}

const servers = env("NATS_URL");
const callout = await NatsApp.create({
  servers,
  user: env("NATS_USER"),
  pass: env("NATS_PASSWORD"),
  controllers: [DemoAuthorizer],
  providers: [authCalloutConfig({ issuerSeed: env("NATS_CALLOUT_ISSUER_SEED"), xkeySeed: process.env.NATS_CALLOUT_XKEY_SEED })],
});
const app = await NatsApp.create({ servers, user: "greeter", pass: env("APP_PASSWORD"), controllers: [GreetController], providers: [Greeter] });
await callout.start();
await app.start();
console.log("scratch service started");
let stopping = false;
const stop = async (): Promise<void> => {
  if (stopping) return;
  stopping = true;
  await app.stop();
  await callout.stop();
};
process.once("SIGTERM", () => void stop());
process.once("SIGINT", () => void stop());
`;

describe("a scratch project outside the repository, set up as the README says", () => {
  let root: string;
  let project: string;
  let packs: string;
  let tarballs: Awaited<ReturnType<typeof packWorkspaces>>;

  beforeAll(async () => {
    for (const dir of Object.values(WORKSPACES)) {
      await access(join(REPO, dir, "dist/index.js")).catch(() => access(join(REPO, dir, "dist/main.js"))).catch(() => {
        throw new Error(`${dir} is not built: run tsc -b (npm test does) before this test`);
      });
    }
    root = await mkdtemp(join(tmpdir(), "natsflow-scratch-"));
    packs = join(root, "packs");
    project = join(root, "project");
    await mkdir(packs);
    await mkdir(join(project, "src"), { recursive: true });
    tarballs = await packWorkspaces(REPO, packs, Object.values(WORKSPACES));
    for (const name of Object.keys(WORKSPACES)) {
      const pack = tarballs.get(name);
      expect(pack, `npm pack made ${name}`).toBeDefined();
      expect(pack?.files.map((f) => f.path)).not.toContain("dist/.tsbuildinfo");
    }

    const { installs, tsconfig } = await installSection();
    // From tarballs, the package the README's installs bring in without naming it (the CLI's and the
    // test kit's shared @natsflow/devkit) has a version no registry has: an override points at its tarball.
    const overrides = { "@natsflow/devkit": `file:${join(packs, tarballs.get("@natsflow/devkit")?.filename as string)}` };
    await writeFile(join(project, "package.json"), `${JSON.stringify({ name: "scratch", version: "1.0.0", private: true, type: "module", overrides }, null, 2)}\n`);
    await writeFile(join(project, "tsconfig.json"), `${JSON.stringify(tsconfig, null, 2)}\n`);
    for (const args of installs) {
      const resolved = args.map((a) => (tarballs.has(a) ? join(packs, tarballs.get(a)?.filename as string) : a));
      await runOk("npm", ["install", ...resolved, "--prefer-offline", "--no-audit", "--no-fund"], { cwd: project, env: cleanEnv(), label: `npm install ${args.join(" ")}` });
    }
    await writeFile(join(project, "src/main.ts"), SERVICE);
  }, 120_000);

  afterAll(() => (root ? rm(root, { recursive: true, force: true }) : undefined));

  const tsc = (args: string[]) => runTracked(process.execPath, [join(project, "node_modules/typescript/bin/tsc"), ...args], { cwd: project, label: `tsc ${args.join(" ")}` });

  it("installs the packages as dependencies and dev dependencies, peers included", async () => {
    const pkg = JSON.parse(await readFile(join(project, "package.json"), "utf8")) as Record<string, Record<string, string>>;
    expect(Object.keys(pkg.dependencies ?? {})).toEqual(expect.arrayContaining(["@natsflow/core", "@natsflow/auth-callout"]));
    expect(Object.keys(pkg.devDependencies ?? {})).toEqual(expect.arrayContaining(["@natsflow/testing", "natsflow"]));
    // The peer dependency, installed by npm itself.
    await access(join(project, "node_modules/@opentelemetry/api/package.json"));
  });

  it("a project with only `-D natsflow` installs neither the test kit nor an OpenTelemetry SDK", async () => {
    const cliOnly = join(root, "cli-only");
    await mkdir(cliOnly);
    // Every natsflow package from its tarball (the same spec as the direct dependency, as npm requires).
    const overrides = Object.fromEntries([...tarballs].map(([name, p]) => [name, `file:${join(packs, p.filename)}`]));
    await writeFile(join(cliOnly, "package.json"), JSON.stringify({ name: "cli-only", version: "1.0.0", private: true, devDependencies: { natsflow: overrides.natsflow }, overrides }));
    await runOk("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund"], { cwd: cliOnly, env: cleanEnv(), label: "npm install -D natsflow" });
    const listed = await runOk("npm", ["ls", "--all", "--parseable"], { cwd: cliOnly, env: cleanEnv(), label: "npm ls --all" });
    const installed = listed.stdout.split("\n").map((path) => relative(join(cliOnly, "node_modules"), path).replaceAll("\\", "/"));
    expect(installed).toContainEqual(expect.stringMatching(/(^|\/)@natsflow\/devkit$/));
    expect(installed.filter((p) => /(^|\/)(@opentelemetry\/sdk-|@natsflow\/testing$)/.test(p))).toEqual([]);
  }, 120_000);

  it("without the decorator flags tsc fails as the README says; without metadata the app fails at create", async () => {
    const base = JSON.parse(await readFile(join(project, "tsconfig.json"), "utf8")) as { compilerOptions: Record<string, unknown> };
    const variant = async (name: string, options: Record<string, unknown>) => {
      await writeFile(join(project, name), JSON.stringify({ ...base, compilerOptions: { ...base.compilerOptions, ...options } }));
      return tsc(["-p", name]);
    };
    const noDecorators = await variant("tsconfig.no-decorators.json", { experimentalDecorators: false, emitDecoratorMetadata: false, noEmit: true });
    expect(noDecorators.code).not.toBe(0);
    expect(noDecorators.stdout).toMatch(/error TS1241: Unable to resolve signature of method decorator/);
    expect(noDecorators.stdout).toMatch(/error TS1206: Decorators are not valid here/);

    const noMetadata = await variant("tsconfig.no-metadata.json", { emitDecoratorMetadata: false, outDir: "dist-no-metadata" });
    expect(noMetadata.code, noMetadata.stdout).toBe(0);
    const run = await runTracked(process.execPath, ["dist-no-metadata/main.js"], {
      cwd: project,
      env: cleanEnv({ NATS_URL: "nats://127.0.0.1:1", NATS_USER: "u", NATS_PASSWORD: "p", NATS_CALLOUT_ISSUER_SEED: newAccountKey().seed, ALICE_PASSWORD, APP_PASSWORD }),
      label: "scratch service without metadata",
    });
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(/GreetController\): cannot be created: .*no decorator metadata \(design:paramtypes\) was emitted for GreetController\. Fix: enable emitDecoratorMetadata/);
  }, 40_000);

  it("builds with tsc, deploys with the installed natsflow init, and serves a client through the callout", async () => {
    const build = await tsc(["-p", "."]);
    expect(build.code, build.stdout).toBe(0);

    const init = await runOk(join(project, "node_modules/.bin/natsflow"), ["init", "deploy"], { cwd: project, env: cleanEnv(), label: "natsflow init deploy (installed)" });
    expect(init.stdout).toContain("node --env-file=deploy/callout.env dist/main.js");
    const config = JSON.parse(await readFile(join(project, "deploy/nats-server.conf"), "utf8")) as Record<string, unknown>;
    delete config.port;
    delete config.host;
    const envText = await readFile(join(project, "deploy/callout.env"), "utf8");
    registerSecret(/NATS_PASSWORD=(.*)/.exec(envText)?.[1] as string);
    const server = await startNatsServer({ config });
    // The next step as init prints it; NATS_URL from the environment wins over the file's (port 4222).
    const service = spawnTracked(process.execPath, ["--env-file=deploy/callout.env", "dist/main.js"], {
      cwd: project,
      env: cleanEnv({ NATS_URL: server.url, ALICE_PASSWORD, APP_PASSWORD }),
      label: "scratch service",
    });
    try {
      await service.waitForOutput(/scratch service started/, 15_000);
      const nc = await connect({ servers: server.url, user: "alice", pass: ALICE_PASSWORD, reconnect: false });
      try {
        const reply = await nc.request("greet.hello", JSON.stringify("bob"), { timeout: 3000 });
        expect(JSON.parse(new TextDecoder().decode(reply.data))).toBe("hello bob");
      } finally {
        await nc.close();
      }
      await expect(connect({ servers: server.url, user: "alice", pass: "wrong", reconnect: false })).rejects.toThrow(/authorization violation/i);
    } finally {
      void service.stop();
      await service.exited;
      await server.stop();
    }
    expect((await service.exited).code, service.output).toBe(0);
    expect(server.log).not.toMatch(/Plaintext passwords detected/i);
  }, 40_000);
});
