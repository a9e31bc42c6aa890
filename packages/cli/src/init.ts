import { mkdir, readdir } from "node:fs/promises";
import { join, resolve } from "node:path";

import { hashPassword } from "@natsflow/auth-callout";
import { configModeCallout, operatorModeCallout } from "@natsflow/devkit";

import { writeSecretFile } from "./secret-file.js";

export interface InitOptions {
  dir: string;
  mode: "config" | "operator";
  xkey: boolean;
  port: number;
  /** Write into a directory that already holds files (replacing keys and passwords in use). */
  force?: boolean;
}

/** `init` refused to write: the target directory is not empty and `force` was not given. */
export class InitTargetNotEmptyError extends Error {
  override name = "InitTargetNotEmptyError";
}

async function entries(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw e;
  }
}

/**
 * Writes a ready auth callout deployment: the nats-server config, and what the service needs —
 * `callout.env` (the users-file example's environment contract) and `callout.json` (the
 * `authCalloutConfig` options, both modes). Every file is written owner-only (0600, replacing what
 * was there; the config mode's server config holds a password hash), and a directory it creates is
 * 0700. A non-empty `dir` is refused unless `force`: new keys and a new password would silently
 * replace the ones a running deployment uses.
 */
export async function init(options: InitOptions): Promise<string[]> {
  const existing = await entries(options.dir);
  if (existing.length > 0 && !options.force) {
    const shown = existing.slice(0, 5).join(", ") + (existing.length > 5 ? ", …" : "");
    throw new InitTargetNotEmptyError(
      `${options.dir} is not empty (${shown}). init writes new keys and a new service password, which would replace the ones in use there; ` +
        "pick an empty or new directory, or pass --force to overwrite.",
    );
  }
  await mkdir(options.dir, { recursive: true, mode: 0o700 });
  const url = `nats://127.0.0.1:${options.port}`;
  const listen = { host: "127.0.0.1", port: options.port };
  const written: string[] = [];
  const write = async (name: string, text: string) => {
    await writeSecretFile(join(options.dir, name), text);
    written.push(name);
  };
  if (options.mode === "config") {
    const setup = configModeCallout({ xkey: options.xkey });
    await write("nats-server.conf", `${JSON.stringify({ ...listen, ...(await withHashedServicePassword(setup)) }, null, 2)}\n`);
    await write(
      "callout.env",
      [
        `NATS_URL=${url}`,
        `NATS_USER=${setup.serviceUser.user}`,
        `NATS_PASSWORD=${setup.serviceUser.pass}`,
        `NATS_CALLOUT_ISSUER_SEED=${setup.issuer.seed}`,
        ...(setup.xkey ? [`NATS_CALLOUT_XKEY_SEED=${setup.xkey.seed}`] : []),
        "",
      ].join("\n"),
    );
    await write("callout.json", `${JSON.stringify({ issuerSeed: setup.issuer.seed, xkeySeed: setup.xkey?.seed }, null, 2)}\n`);
  } else {
    const op = await operatorModeCallout({ xkey: options.xkey });
    await write("nats-server.conf", `${JSON.stringify({ ...listen, ...op.serverConfig }, null, 2)}\n`);
    await write("service.creds", op.serviceCreds);
    await write("sentinel.creds", op.sentinelCreds);
    const accounts = Object.fromEntries(
      Object.entries(op.accounts).map(([name, a]) => [name, { publicKey: a.account.publicKey, signingKeySeed: a.signingKey.seed }]),
    );
    await write(
      "callout.json",
      `${JSON.stringify({ issuerSeed: op.callout.account.seed, xkeySeed: op.xkey?.seed, operator: { calloutAccount: op.callout.account.publicKey, accounts } }, null, 2)}\n`,
    );
    // Absolute, so the service finds it from whatever directory it is started in.
    await write("callout.env", [`NATS_URL=${url}`, `NATS_CREDS=${resolve(options.dir, "service.creds")}`, ""].join("\n"));
  }
  return written;
}

/**
 * The config with the service's login stored as a bcrypt hash (nats-server verifies `$2…` hashes
 * and warns about plaintext ones); the plaintext stays only in `callout.env`.
 */
async function withHashedServicePassword(setup: ReturnType<typeof configModeCallout>): Promise<Record<string, unknown>> {
  const config = structuredClone(setup.serverConfig) as { accounts: Record<string, { users?: { user: string; password: string }[] }> };
  const hash = await hashPassword(setup.serviceUser.pass, "bcrypt");
  let replaced = 0;
  for (const account of Object.values(config.accounts)) {
    for (const user of account.users ?? []) {
      if (user.user === setup.serviceUser.user) {
        user.password = hash;
        replaced++;
      }
    }
  }
  if (replaced !== 1) throw new Error(`expected one login for ${setup.serviceUser.user} in the generated config, found ${replaced}`);
  return config;
}

/** What to run next, in the user's own directory (nothing here assumes this repository). */
export function nextSteps(dir: string, mode: InitOptions["mode"]): string {
  const file = (name: string) => join(dir, name);
  const server =
    `next steps:\n\n` +
    `  nats-server -c ${file("nats-server.conf")}\n` +
    `      the server (>= 2.10). None installed? \`npx natsflow nats-server\` finds or provisions one and prints its path.\n\n`;
  if (mode === "config") {
    return (
      server +
      `  node --env-file=${file("callout.env")} dist/main.js\n` +
      `      your service, built with tsc. callout.env holds its login (NATS_URL, NATS_USER, NATS_PASSWORD)\n` +
      `      and keys (NATS_CALLOUT_ISSUER_SEED, NATS_CALLOUT_XKEY_SEED):\n` +
      `        NatsApp.create({ servers: env.NATS_URL, user: env.NATS_USER, pass: env.NATS_PASSWORD, controllers: [YourAuthorizer],\n` +
      `          providers: [authCalloutConfig({ issuerSeed: env.NATS_CALLOUT_ISSUER_SEED, xkeySeed: env.NATS_CALLOUT_XKEY_SEED })] })\n` +
      `      (or authCalloutConfig(JSON.parse(readFileSync("${file("callout.json")}", "utf8")))).\n` +
      `      The server config stores only a bcrypt hash of the service's password; callout.env holds it in clear (mode 600).\n`
    );
  }
  return (
    server +
    `  node --env-file=${file("callout.env")} dist/main.js\n` +
    `      your service, built with tsc. callout.env holds NATS_URL and NATS_CREDS, the absolute path of service.creds\n` +
    `      (edit it if you move the directory):\n` +
    `        NatsApp.create({ servers: env.NATS_URL, creds: readFileSync(env.NATS_CREDS, "utf8"), controllers: [YourAuthorizer],\n` +
    `          providers: [authCalloutConfig(JSON.parse(readFileSync("${file("callout.json")}", "utf8")))] })\n` +
    `      Clients connect with ${file("sentinel.creds")} plus their own user/password or token.\n`
  );
}
