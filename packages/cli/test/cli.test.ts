import "reflect-metadata";

import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { isAbsolute, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

import { AuthCallout, authCalloutConfig, type Authorizer, type Grant } from "@natsflow/auth-callout";
import { NatsApp } from "@natsflow/core";
import { captureLogs, recordImports, registerSecret, spawnTracked, startNatsServer } from "@natsflow/testing";
import { connect, credsAuthenticator } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { runOk, runTracked } from "./run.js";

const CLI = fileURLToPath(new URL("../dist/main.js", import.meta.url));
const USERS_FILE_MAIN = fileURLToPath(new URL("../../../examples/users-file/dist/main.js", import.meta.url));
const PLAINTEXT_WARNING = /Plaintext passwords detected/i;

const cli = (args: string[], cwd?: string) => runTracked(process.execPath, [CLI, ...args], { label: `natsflow ${args.join(" ")}`, ...(cwd ? { cwd } : {}) });

async function serverFrom(dir: string) {
  const config = JSON.parse(await readFile(join(dir, "nats-server.conf"), "utf8")) as Record<string, unknown>;
  // The generated file listens on 4222; tests take a free port instead.
  delete config.port;
  delete config.host;
  return startNatsServer({ config });
}

const modeOf = async (path: string) => (await stat(path)).mode & 0o777;

/** A file as a careless earlier write left it: world-readable, other content. */
async function oldFile(path: string): Promise<void> {
  await writeFile(path, "old\n");
  await chmod(path, 0o644);
}

function envFile(text: string): Record<string, string> {
  const env = Object.fromEntries(text.trim().split("\n").map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
  if (env.NATS_PASSWORD) registerSecret(env.NATS_PASSWORD);
  return env;
}

describe("natsflow CLI", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "natsflow-cli-"));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("keys: prints a fresh seed and public key", async () => {
    const { stdout } = await runOk(process.execPath, [CLI, "keys"], { label: "natsflow keys", secretOutput: true });
    expect(stdout).toMatch(/^seed: +SA[A-Z2-7]{56}\npublic key: A[A-Z2-7]{55}\n$/);
    expect((await runOk(process.execPath, [CLI, "keys", "--curve"], { label: "natsflow keys --curve", secretOutput: true })).stdout).toMatch(/public key: X/);
  });

  it("refuses bad usage with exit code 2", async () => {
    const unknown = await cli(["nope"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command "nope"/);
    expect((await cli(["init", join(dir, "x"), "--mode", "fancy"])).code).toBe(2);
  });

  it("--help and refused commands load only the CLI's own entry modules, no command's", async () => {
    const dist = pathToFileURL(fileURLToPath(new URL("../dist/", import.meta.url))).href;
    for (const args of [["--help"], ["nope"], ["run"], ["docs", "gen"]]) {
      const imports = recordImports(join(dir, `imports-${args.join("-")}.log`));
      const { code } = await runTracked(process.execPath, [...imports.execArgv, CLI, ...args], { label: `natsflow ${args.join(" ")}`, env: { ...process.env, ...imports.env } });
      expect(code).toBe(args[0] === "--help" ? 0 : 2);
      const files = (await imports.read()).map((m) => m.url).filter((url) => !url.startsWith("node:"));
      expect(files.map((url) => (url.startsWith(dist) ? url.slice(dist.length) : url)).sort()).toEqual(["app-module.js", "loader/ts-register.js", "main.js"]);
    }
  });

  it("init: next steps name the written files and plain commands, nothing of this repository", async () => {
    for (const mode of ["config", "operator"]) {
      const out = join(dir, `steps-${mode}`);
      const { code, stdout } = await cli(["init", out, "--mode", mode]);
      expect(code).toBe(0);
      expect(stdout).toContain(`nats-server -c ${join(out, "nats-server.conf")}`);
      expect(stdout).toContain(`node --env-file=${join(out, "callout.env")} dist/main.js`);
      expect(stdout).toContain("npx natsflow nats-server");
      expect(stdout).not.toMatch(/npm (start|run)|-w examples|users-file/);
    }
  });

  it("init: refuses a non-empty directory unless --force, naming the flag; --force writes new keys", async () => {
    const out = join(dir, "taken");
    await mkdir(out);
    await writeFile(join(out, "notes.txt"), "mine\n");
    const refused = await cli(["init", out]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/is not empty \(notes\.txt\).*--force/);
    await expect(stat(join(out, "callout.env"))).rejects.toThrow(/ENOENT/);

    const fresh = join(dir, "fresh");
    expect((await cli(["init", fresh])).code).toBe(0);
    const before = await readFile(join(fresh, "callout.env"), "utf8");
    envFile(before);
    const again = await cli(["init", fresh]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/--force/);
    expect(await readFile(join(fresh, "callout.env"), "utf8")).toBe(before);
    expect((await cli(["init", fresh, "--force"])).code).toBe(0);
    const after = await readFile(join(fresh, "callout.env"), "utf8");
    envFile(after);
    expect(after).not.toBe(before);
  });

  it("init: a new deployment directory is 0700; every file init writes is 0600, also over --force where the old file was 0644", async () => {
    for (const mode of ["config", "operator"]) {
      const fresh = join(dir, `modes-${mode}`, "deployment");
      expect((await cli(["init", fresh, "--mode", mode])).code).toBe(0);
      expect(await modeOf(fresh)).toBe(0o700);
      const names = await readdir(fresh);
      expect(names).toContain("nats-server.conf");
      for (const name of names) expect(await modeOf(join(fresh, name)), name).toBe(0o600);
      for (const name of names) await oldFile(join(fresh, name));
      const forced = await cli(["init", fresh, "--mode", mode, "--force"]);
      expect(forced.code).toBe(0);
      // Nothing but the deployment: no temporary file left behind.
      expect((await readdir(fresh)).sort()).toEqual([...names].sort());
      for (const name of names) {
        expect(await modeOf(join(fresh, name)), name).toBe(0o600);
        expect(await readFile(join(fresh, name), "utf8"), name).not.toBe("old\n");
      }
      if (mode === "config") envFile(await readFile(join(fresh, "callout.env"), "utf8"));
    }
  });

  it("init (config mode): the server stores a bcrypt hash (no plaintext warning); the users-file service logs in with the env file", async () => {
    const out = join(dir, "config");
    const { code, stdout } = await cli(["init", out]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/nats-server -c/);
    expect((await stat(join(out, "callout.env"))).mode & 0o777).toBe(0o600);
    const env = envFile(await readFile(join(out, "callout.env"), "utf8"));
    const conf = await readFile(join(out, "nats-server.conf"), "utf8");
    expect(conf).toMatch(/"password": "\$2[aby]\$10\$/);
    expect(conf).not.toContain(env.NATS_PASSWORD);
    const server = await serverFrom(out);
    const service = spawnTracked(process.execPath, [USERS_FILE_MAIN], { label: "users-file from init", env: { ...process.env, ...env, NATS_URL: server.url } });
    try {
      await service.waitForOutput(/natsflow app started/);
      const nc = await connect({ servers: server.url, user: "alice", pass: "alice", reconnect: false });
      await nc.close();
      await expect(connect({ servers: server.url, user: "alice", pass: "nope", reconnect: false })).rejects.toThrow(/authorization violation/i);
      await expect(connect({ servers: server.url, user: env.NATS_USER, pass: "nope", reconnect: false })).rejects.toThrow(/authorization violation/i);
    } finally {
      void service.stop();
      await server.stop();
    }
    expect((await service.exited).code).toBe(0);
    expect(server.log).toMatch(/Server is ready/);
    expect(server.log).not.toMatch(PLAINTEXT_WARNING);

    // The control: the same config with the password in clear does draw the warning.
    const plain = JSON.parse(conf) as { port?: number; host?: string; accounts: { AUTH: { users: { password: string }[] } } };
    (plain.accounts.AUTH.users[0] as { password: string }).password = env.NATS_PASSWORD as string;
    delete plain.port;
    delete plain.host;
    const plainServer = await startNatsServer({ config: plain });
    await plainServer.stop();
    expect(plainServer.log).toMatch(PLAINTEXT_WARNING);
  });

  it("init (operator mode): callout.env names service.creds by an absolute path; callout.json configures a service; clients use the sentinel", async () => {
    const cwd = join(dir, "elsewhere");
    await mkdir(cwd);
    // A relative target, from a working directory that is not the deployment's.
    await runOk(process.execPath, [CLI, "init", "../operator", "--mode", "operator"], { cwd, label: "natsflow init operator" });
    const out = join(dir, "operator");
    const env = envFile(await readFile(join(out, "callout.env"), "utf8"));
    expect(isAbsolute(env.NATS_CREDS as string)).toBe(true);
    expect(env.NATS_CREDS).toBe(join(out, "service.creds"));
    const server = await serverFrom(out);
    @AuthCallout()
    class Anyone implements Authorizer {
      authorize(): Grant {
        return { account: "APP", permissions: "all" };
      }
    }
    const app = await NatsApp.create({
      servers: server.url,
      creds: await readFile(env.NATS_CREDS as string, "utf8"),
      controllers: [Anyone],
      providers: [authCalloutConfig(JSON.parse(await readFile(join(out, "callout.json"), "utf8")))],
      logger: captureLogs().logger,
    });
    await app.start();
    try {
      const sentinel = await readFile(join(out, "sentinel.creds"));
      const nc = await connect({ servers: server.url, user: "zoe", pass: "x", reconnect: false, authenticator: credsAuthenticator(sentinel) });
      await nc.close();
    } finally {
      await app.stop();
      await server.stop();
    }
  });

  it("creds (operator mode): a user of APP, signed by its signing key, logs in to APP directly, no callout involved", async () => {
    const out = join(dir, "operator");
    const made = await runOk(process.execPath, [CLI, "creds", out, "billing-service", "--account", "APP"], { label: "natsflow creds", secretOutput: true });
    expect(made.stdout).toMatch(/wrote .*billing-service\.creds: a user of APP/);
    const creds = await readFile(join(out, "billing-service.creds"));
    expect((await stat(join(out, "billing-service.creds"))).mode & 0o777).toBe(0o600);
    const layout = JSON.parse(await readFile(join(out, "callout.json"), "utf8")) as { operator: { accounts: Record<string, { publicKey: string }> } };
    const server = await serverFrom(out);
    try {
      // No callout service runs: only the server's own JWT check admits it.
      const nc = await connect({ servers: server.url, reconnect: false, authenticator: credsAuthenticator(creds) });
      const info = JSON.parse(new TextDecoder().decode((await nc.request("$SYS.REQ.USER.INFO", new Uint8Array(0), { timeout: 2_000 })).data)) as { data: { account: string } };
      expect(info.data.account).toBe(layout.operator.accounts.APP?.publicKey);
      await nc.close();
    } finally {
      await server.stop();
    }
    // -o over a file that was world-readable: replaced, and owner-only.
    const named = join(dir, "named.creds");
    await oldFile(named);
    await runOk(process.execPath, [CLI, "creds", out, "billing-service", "-o", named], { label: "natsflow creds -o", secretOutput: true });
    expect(await modeOf(named)).toBe(0o600);
    expect(await readFile(named, "utf8")).toMatch(/-----BEGIN NATS USER JWT-----/);
    expect((await readdir(dir)).filter((n) => n.includes("named"))).toEqual(["named.creds"]);
    const wrong = await runTracked(process.execPath, [CLI, "creds", out, "x", "--account", "NOPE"]);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/--account NOPE: .* has APP/);
  });
});
