import { readFile } from "node:fs/promises";
import { join } from "node:path";

import { encodeUser, fmtCreds } from "@nats-io/jwt";
import { createUser, fromSeed } from "nkeys.js";

import { UsageError } from "../app-module.js";
import { writeSecretFile } from "../secret-file.js";

interface OperatorLayout {
  operator?: { accounts?: Record<string, { publicKey: string; signingKeySeed: string }> };
}

/**
 * `natsflow creds <dir> <user> [--account APP]`: a user of an application account, in operator mode,
 * signed by the account's signing key from `<dir>/callout.json` (`natsflow init --mode operator`).
 * It logs in to that account directly, without the callout: for services of that account.
 */
export async function mintCreds(dir: string, user: string, account: string, out: string | undefined): Promise<string> {
  const file = join(dir, "callout.json");
  let layout: OperatorLayout;
  try {
    layout = JSON.parse(await readFile(file, "utf8")) as OperatorLayout;
  } catch (e) {
    throw new UsageError(`cannot read ${file}: ${(e as Error).message} (run natsflow init ${dir} --mode operator first)`);
  }
  const accounts = layout.operator?.accounts;
  if (!accounts) throw new UsageError(`${file} is not an operator-mode deployment (natsflow init ${dir} --mode operator writes one)`);
  const target = accounts[account];
  if (!target) throw new UsageError(`--account ${account}: ${file} has ${Object.keys(accounts).join(", ")}`);
  if (!/^[A-Za-z0-9_-]+$/.test(user)) throw new UsageError(`user "${user}": use letters, digits, - and _`);
  const userKey = createUser();
  const token = await encodeUser(user, userKey, target.publicKey, {}, { signer: fromSeed(new TextEncoder().encode(target.signingKeySeed)) });
  const path = out ?? join(dir, `${user}.creds`);
  await writeSecretFile(path, fmtCreds(token, userKey));
  return path;
}
