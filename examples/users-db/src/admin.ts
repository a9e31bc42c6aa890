// Manage the users directory: the same database the service reads (DATABASE_URL or DATABASE_DIR).
//   node dist/admin.js add <name> <account> <permissions JSON | all>   (the password is read from USER_PASSWORD or stdin)
//   node dist/admin.js remove <name>
//   node dist/admin.js list
import "reflect-metadata";

import { readFileSync } from "node:fs";

import { InvalidGrantError, validatePermissions, type Permissions } from "@natsflow/auth-callout";
import { SetupError } from "@natsflow/core";

import { openDatabase } from "./database.js";
import { databaseFromSettings } from "./settings.js";
import { UserRepository } from "./users.js";

const USAGE = "usage: admin add <name> <account> <permissions JSON | all> | remove <name> | list";

/** `all`, or JSON checked exactly as the callout will check the grant: what it would refuse is never stored. */
function parsePermissions(text: string): Permissions | "all" {
  let permissions: unknown = text;
  if (text !== "all") {
    try {
      permissions = JSON.parse(text);
    } catch (e) {
      throw new SetupError("permissions", `are not JSON: ${(e as Error).message}`, `give e.g. '{"pub":{"allow":["orders.>"]},"sub":{"allow":["_INBOX.>"]}}', or all.`, { cause: e });
    }
  }
  validatePermissions(permissions);
  return permissions;
}

/** The repository on the configured database, closed afterwards. */
async function withUsers(run: (users: UserRepository) => Promise<number>): Promise<number> {
  const db = await openDatabase(await databaseFromSettings());
  try {
    const users = new UserRepository(db);
    await users.onStartup();
    return await run(users);
  } finally {
    await db.close();
  }
}

async function main(args: string[]): Promise<number> {
  const [command, name, account, permissionsText] = args;
  if (command === "add" && name && account && permissionsText !== undefined) {
    // Before the database is opened or a password read.
    const permissions = parsePermissions(permissionsText);
    return withUsers(async (users) => {
      // Never on the command line, where ps and shell history would keep it.
      const password = process.env.USER_PASSWORD ?? readFileSync(0, "utf8").replace(/\r?\n$/, "");
      if (password.length === 0) throw new SetupError("USER_PASSWORD", "is empty.", "set it, or pipe the password on stdin.");
      await users.add(name, password, account, permissions);
      console.log(`added ${name} to ${account}`);
      return 0;
    });
  }
  if (command === "remove" && name) {
    return withUsers(async (users) => {
      const removed = await users.remove(name);
      console.log(removed ? `removed ${name}` : `no user ${name}`);
      return removed ? 0 : 1;
    });
  }
  if (command === "list") {
    return withUsers(async (users) => {
      for (const u of await users.list()) console.log(`${u.name}\t${u.account}${u.permissions ? `\t${JSON.stringify(u.permissions)}` : ""}`);
      return 0;
    });
  }
  console.error(USAGE);
  return 2;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (e) {
  // A bad setting or bad permissions is one line that names it; anything else keeps its stack.
  if (e instanceof SetupError) console.error(`configuration error: ${e.message}`);
  else if (e instanceof InvalidGrantError) console.error(`refused, nothing stored: ${e.message}`);
  else console.error(e);
  process.exitCode = e instanceof SetupError || e instanceof InvalidGrantError ? 2 : 1;
}
