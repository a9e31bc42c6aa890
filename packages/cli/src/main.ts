#!/usr/bin/env node
// natsflow — keys, auth callout deployments, and a nats-server to run them on.
import { join } from "node:path";
import { parseArgs } from "node:util";

import { newAccountKey, newCurveKey, resolveNatsServer } from "@natsflow/testing";

import { init, InitTargetNotEmptyError, nextSteps } from "./init.js";

const USAGE = `natsflow <command>

  keys [--curve]                 a fresh account (issuer) or curve (xkey) nkey: seed and public key
  init <dir> [--mode config|operator] [--no-xkey] [--port 4222] [--force]
                                 an auth callout deployment: nats-server.conf, callout.env, callout.json
                                 (and creds in operator mode); refuses a non-empty <dir> unless --force
  nats-server                    the path of a nats-server >= 2.10, provisioned when missing
`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      curve: { type: "boolean" },
      mode: { type: "string", default: "config" },
      "no-xkey": { type: "boolean" },
      port: { type: "string", default: "4222" },
      force: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  const [command, ...rest] = positionals;
  if (values.help || !command) {
    process.stdout.write(USAGE);
    return command || values.help ? 0 : 2;
  }
  switch (command) {
    case "keys": {
      const key = values.curve ? newCurveKey() : newAccountKey();
      process.stdout.write(`seed:       ${key.seed}\npublic key: ${key.publicKey}\n`);
      return 0;
    }
    case "init": {
      const dir = rest[0];
      const port = Number(values.port);
      if (!dir) throw new UsageError("init needs a directory: natsflow init <dir>");
      if (values.mode !== "config" && values.mode !== "operator") throw new UsageError(`--mode must be config or operator, got ${values.mode}`);
      if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError(`--port must be a port number, got ${values.port}`);
      const files = await init({ dir, mode: values.mode, xkey: !values["no-xkey"], port, force: !!values.force });
      process.stdout.write(`wrote ${files.map((f) => join(dir, f)).join(", ")}\n\n${nextSteps(dir, values.mode)}`);
      return 0;
    }
    case "nats-server": {
      const server = await resolveNatsServer();
      process.stderr.write(`nats-server ${server.version} (${server.source})\n`);
      process.stdout.write(`${server.path}\n`);
      return 0;
    }
    default:
      throw new UsageError(`unknown command "${command}"\n\n${USAGE}`);
  }
}

class UsageError extends Error {}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`natsflow: ${(e as Error).message}\n`);
    process.exit(e instanceof UsageError || e instanceof InitTargetNotEmptyError ? 2 : 1);
  },
);
