import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";

import { configModeCallout, operatorModeCallout } from "@natsflow/testing";

export interface InitOptions {
  dir: string;
  mode: "config" | "operator";
  xkey: boolean;
  port: number;
}

const secret = { mode: 0o600 } as const;

/**
 * Writes a ready auth callout deployment: the nats-server config, and what the service needs —
 * `callout.env` (the users-file example's environment contract, config mode) and `callout.json`
 * (the `authCalloutConfig` options, both modes). Files holding secrets are readable by the owner only.
 */
export async function init(options: InitOptions): Promise<string[]> {
  await mkdir(options.dir, { recursive: true });
  const url = `nats://127.0.0.1:${options.port}`;
  const listen = { host: "127.0.0.1", port: options.port };
  const written: string[] = [];
  const write = async (name: string, text: string, mode?: typeof secret) => {
    await writeFile(join(options.dir, name), text, mode);
    written.push(name);
  };
  if (options.mode === "config") {
    const setup = configModeCallout({ xkey: options.xkey });
    await write("nats-server.conf", `${JSON.stringify({ ...listen, ...setup.serverConfig }, null, 2)}\n`);
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
      secret,
    );
    await write("callout.json", `${JSON.stringify({ issuerSeed: setup.issuer.seed, xkeySeed: setup.xkey?.seed }, null, 2)}\n`, secret);
  } else {
    const op = await operatorModeCallout({ xkey: options.xkey });
    await write("nats-server.conf", `${JSON.stringify({ ...listen, ...op.serverConfig }, null, 2)}\n`);
    await write("service.creds", op.serviceCreds, secret);
    await write("sentinel.creds", op.sentinelCreds, secret);
    const accounts = Object.fromEntries(
      Object.entries(op.accounts).map(([name, a]) => [name, { publicKey: a.account.publicKey, signingKeySeed: a.signingKey.seed }]),
    );
    await write(
      "callout.json",
      `${JSON.stringify({ issuerSeed: op.callout.account.seed, xkeySeed: op.xkey?.seed, operator: { calloutAccount: op.callout.account.publicKey, accounts } }, null, 2)}\n`,
      secret,
    );
    await write("callout.env", [`NATS_URL=${url}`, "NATS_CREDS=service.creds", ""].join("\n"), secret);
  }
  return written;
}
