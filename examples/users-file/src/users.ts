import { createHash, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";

import { validatePermissions, type Permissions } from "@natsflow/auth-callout";
import { SetupError } from "@natsflow/core";

export interface UserRecord {
  /** Plain text, as in the NATS-by-example directory; fine for a demo, not for production. */
  pass: string;
  account: string;
  /** Required: `"all"` for no restriction, spelled out. */
  permissions: Permissions | "all";
}

/** The directory: user name → record, read once from a users.json file. */
export class UserRepository {
  private readonly users: ReadonlyMap<string, UserRecord>;

  constructor(users: Record<string, UserRecord>) {
    this.users = new Map(Object.entries(users));
  }

  static fromFile(path: string): UserRepository {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(path, "utf8"));
    } catch (e) {
      throw new SetupError("USERS_FILE", `cannot read ${path}: ${(e as Error).message}.`, "point it at a JSON object of users.", { cause: e });
    }
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
      throw new SetupError("USERS_FILE", `${path} is not a JSON object of users.`);
    }
    for (const [name, u] of Object.entries(parsed as Record<string, Partial<UserRecord>>)) {
      if (typeof u?.pass !== "string" || typeof u.account !== "string") {
        throw new SetupError("USERS_FILE", `user "${name}" in ${path} needs string "pass" and "account".`);
      }
      // Checked as the callout checks a grant: a typo fails here, at start-up, not at every login.
      try {
        validatePermissions(u.permissions);
      } catch (e) {
        throw new SetupError("USERS_FILE", `user "${name}" in ${path}: ${(e as Error).message}.`, 'give "permissions": { "pub": …, "sub": … }, or "all".', { cause: e });
      }
    }
    return new UserRepository(parsed as Record<string, UserRecord>);
  }

  find(name: string): UserRecord | undefined {
    return this.users.get(name);
  }

  /** Constant-time: comparing digests keeps the time independent of where the strings differ. */
  checkPassword(user: UserRecord, presented: string): boolean {
    const a = createHash("sha256").update(user.pass).digest();
    const b = createHash("sha256").update(presented).digest();
    return timingSafeEqual(a, b);
  }

  get names(): string[] {
    return [...this.users.keys()];
  }
}
