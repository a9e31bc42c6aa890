// Manage the users directory: the same database the service reads (DATABASE_URL or DATABASE_DIR).
//   node dist/admin.js add <name> <account> [permissions JSON]   (the password is read from USER_PASSWORD or stdin)
//   node dist/admin.js remove <name>
//   node dist/admin.js list
import "reflect-metadata";

import { readFileSync } from "node:fs";

import type { Permissions } from "@natsflow/auth-callout";
import { SetupError } from "@natsflow/core";

import { openDatabase } from "./database.js";
import { databaseFromEnv } from "./env.js";
import { UserRepository } from "./users.js";

const USAGE = "usage: admin add <name> <account> [permissions JSON] | remove <name> | list";

async function main(args: string[]): Promise<number> {
  const [command, name, account, permissions] = args;
  const db = await openDatabase(databaseFromEnv());
  try {
    const users = new UserRepository(db);
    await users.onStartup();
    if (command === "list") {
      for (const u of await users.list()) console.log(`${u.name}\t${u.account}${u.permissions ? `\t${JSON.stringify(u.permissions)}` : ""}`);
      return 0;
    }
    if (command === "add" && name && account) {
      // Never on the command line, where ps and shell history would keep it.
      const password = process.env.USER_PASSWORD ?? readFileSync(0, "utf8").replace(/\r?\n$/, "");
      if (password.length === 0) throw new SetupError("USER_PASSWORD", "is empty.", "set it, or pipe the password on stdin.");
      await users.add(name, password, account, permissions === undefined ? undefined : (JSON.parse(permissions) as Permissions));
      console.log(`added ${name} to ${account}`);
      return 0;
    }
    if (command === "remove" && name) {
      const removed = await users.remove(name);
      console.log(removed ? `removed ${name}` : `no user ${name}`);
      return removed ? 0 : 1;
    }
    console.error(USAGE);
    return 2;
  } finally {
    await db.close();
  }
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (e) {
  console.error(e instanceof SetupError ? `configuration error: ${e.message}` : e);
  process.exitCode = e instanceof SetupError ? 2 : 1;
}
