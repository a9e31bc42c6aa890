#!/usr/bin/env node
// natsflow — run, develop and describe apps; keys, auth callout deployments, and a nats-server to run them on.
import { join } from "node:path";
import { parseArgs } from "node:util";

import { UsageError } from "./app-module.js";

// Each command's module (and what it depends on: core, auth-callout, yaml, jwt…) is imported only
// when that command runs, so `run` or `--help` does not load every command's dependencies.

const USAGE = `natsflow <command>

  run <module>[#export] [--watch] [--workers N] [--env-file F]
                                 run a NatsApp (or a function making one) from a built or TypeScript module
  dev <module>[#export] [--port 4222] [--env-file F]
                                 a nats-server with JetStream, and the app under run --watch
  new <dir> --example <name> [--force] [--tarballs <dir of npm pack output>]
                                 an example as a standalone app: package.json, tsconfig, tests, .env.example
  request <subject> [body] [--server URL] [--header k=v] [--timeout ms]
                                 send a request, print the reply; an error reply exits 1
  publish <subject> [body] [--server URL] [--header k=v]
  docs gen <module> [-o asyncapi.yaml]   the app's AsyncAPI 3.0 document (YAML, or JSON for .json)
  docs serve <module> [--port 8080]      the document as a web page
  keys [--curve]                 a fresh account (issuer) or curve (xkey) nkey: seed and public key
  init <dir> [--mode config|operator] [--no-xkey] [--port 4222] [--force]
                                 an auth callout deployment: nats-server.conf, callout.env, callout.json
                                 (and creds in operator mode); refuses a non-empty <dir> unless --force
  creds <dir> <user> [--account APP] [-o file]
                                 operator mode: a .creds file for a user of an application account
  nats-server                    the path of a nats-server >= 2.10, provisioned when missing
`;

function portOf(value: string | undefined, fallback: number, zeroOk = false): number {
  const port = value === undefined ? fallback : Number(value);
  if (!Number.isInteger(port) || port < (zeroOk ? 0 : 1) || port > 65535) throw new UsageError(`--port must be a port number, got ${value}`);
  return port;
}

/** Resolves on SIGINT/SIGTERM: for commands that serve until stopped. */
const untilSignal = () => new Promise<void>((resolve) => ["SIGINT", "SIGTERM"].forEach((s) => process.once(s, () => resolve())));

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      curve: { type: "boolean" },
      mode: { type: "string", default: "config" },
      "no-xkey": { type: "boolean" },
      port: { type: "string" },
      force: { type: "boolean" },
      watch: { type: "boolean" },
      workers: { type: "string", default: "1" },
      "env-file": { type: "string" },
      example: { type: "string" },
      tarballs: { type: "string" },
      server: { type: "string", default: process.env.NATS_URL ?? "nats://127.0.0.1:4222" },
      header: { type: "string", multiple: true, default: [] },
      timeout: { type: "string", default: "5000" },
      account: { type: "string", default: "APP" },
      output: { type: "string", short: "o" },
      help: { type: "boolean", short: "h" },
    },
  });
  const [command, ...rest] = positionals;
  if (values.help || !command) {
    process.stdout.write(USAGE);
    return command || values.help ? 0 : 2;
  }
  const need = (what: string, value: string | undefined): string => {
    if (!value) throw new UsageError(`${command} needs ${what}; see natsflow --help`);
    return value;
  };
  switch (command) {
    case "run": {
      const module = need("a module", rest[0]);
      const { run } = await import("./commands/run.js");
      return run(module, { watch: !!values.watch, workers: Number(values.workers), envFile: values["env-file"] });
    }
    case "dev": {
      const module = need("a module", rest[0]);
      const port = portOf(values.port, 4222, true);
      const { dev } = await import("./commands/dev.js");
      return dev(module, { port, envFile: values["env-file"] });
    }
    case "new": {
      const dir = need("a directory", rest[0]);
      const { exampleNames, scaffold } = await import("./commands/new.js");
      const example = values.example ?? "orders";
      const files = await scaffold(dir, { example, force: !!values.force, ...(values.tarballs ? { tarballs: values.tarballs } : {}) });
      process.stdout.write(`wrote ${files.length} files to ${dir} from the ${example} example (there is also ${(await exampleNames()).filter((n) => n !== example).join(", ")})\n\n  cd ${dir}\n  npm install\n  npm test\n  npm run dev\n`);
      return 0;
    }
    case "request":
    case "publish": {
      const timeoutMs = Number(values.timeout);
      if (!Number.isInteger(timeoutMs) || timeoutMs < 1) throw new UsageError(`--timeout must be milliseconds, got ${values.timeout}`);
      const { publish, request } = await import("./commands/request.js");
      const talk = command === "request" ? request : publish;
      return talk(need("a subject", rest[0]), rest[1], { server: values.server, headers: values.header, timeoutMs });
    }
    case "docs": {
      const [what, module] = rest;
      if (what === "gen") {
        const path = need("a module", module);
        const { docsGen } = await import("./commands/docs.js");
        await docsGen(path, values.output);
        return 0;
      }
      if (what === "serve") {
        const path = need("a module", module);
        const port = portOf(values.port, 8080, true);
        const { docsServe } = await import("./commands/docs.js");
        const server = await docsServe(path, port);
        const address = server.address() as { port: number };
        process.stderr.write(`natsflow docs: http://127.0.0.1:${address.port}/ (Ctrl-C stops)\n`);
        await untilSignal();
        await new Promise((resolve) => server.close(resolve));
        return 0;
      }
      throw new UsageError("docs gen <module> [-o file] | docs serve <module> [--port]");
    }
    case "keys": {
      const { newAccountKey, newCurveKey } = await import("@natsflow/devkit");
      const key = values.curve ? newCurveKey() : newAccountKey();
      process.stdout.write(`seed:       ${key.seed}\npublic key: ${key.publicKey}\n`);
      return 0;
    }
    case "init": {
      const dir = need("a directory: natsflow init <dir>", rest[0]);
      const port = portOf(values.port, 4222);
      if (values.mode !== "config" && values.mode !== "operator") throw new UsageError(`--mode must be config or operator, got ${values.mode}`);
      const { init, nextSteps } = await import("./init.js");
      const files = await init({ dir, mode: values.mode, xkey: !values["no-xkey"], port, force: !!values.force });
      process.stdout.write(`wrote ${files.map((f) => join(dir, f)).join(", ")}\n\n${nextSteps(dir, values.mode)}`);
      return 0;
    }
    case "creds": {
      const { mintCreds } = await import("./commands/creds.js");
      const path = await mintCreds(need("a directory", rest[0]), need("a user name", rest[1]), values.account, values.output);
      process.stdout.write(`wrote ${path}: a user of ${values.account}\n`);
      return 0;
    }
    case "nats-server": {
      const { resolveNatsServer } = await import("@natsflow/devkit");
      const server = await resolveNatsServer();
      process.stderr.write(`nats-server ${server.version} (${server.source})\n`);
      process.stdout.write(`${server.path}\n`);
      return 0;
    }
    default:
      throw new UsageError(`unknown command "${command}"\n\n${USAGE}`);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`natsflow: ${(e as Error).message}\n`);
    // By name: the other errors' modules may not have been loaded.
    process.exit(e instanceof UsageError || ["InitTargetNotEmptyError", "SetupError"].includes((e as Error).name) ? 2 : 1);
  },
);
