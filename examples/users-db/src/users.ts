import { randomBytes } from "node:crypto";

import { hashPassword, validatePermissions, verifyPassword, type Permissions, type VerifyPasswordOptions } from "@natsflow/auth-callout";
import { injectable, type OnStartup } from "@natsflow/core";

import { Database } from "./database.js";

export interface User {
  readonly name: string;
  readonly account: string;
  /** Undefined only for a row stored before permissions were required: the callout refuses such a grant. */
  readonly permissions: Permissions | "all" | undefined;
}

interface Row {
  name: string;
  password_hash: string;
  account: string;
  permissions: Permissions | "all" | null;
}

/** Run at start-up, before anything connects; each statement is safe to run again. */
const MIGRATION = `
  create table if not exists users (
    name          text primary key,
    password_hash text not null,
    account       text not null,
    permissions   jsonb,
    created_at    timestamptz not null default now()
  );
`;

/** The users directory in SQL: argon2id hashes, an account and permissions per user. */
@injectable()
export class UserRepository implements OnStartup {
  /** Verified for names that are not in the table: see `authenticate`. */
  private unknownUserHash: Promise<string> | undefined;

  constructor(private readonly db: Database) {}

  async onStartup(): Promise<void> {
    await this.db.exec(MIGRATION);
    await this.dummyHash();
  }

  /**
   * Adds a user, or replaces one of the same name (a new password, say). The permissions are checked
   * as the callout checks a grant (`validatePermissions`), so nothing is stored that it would refuse
   * or, worse, read as "allow all".
   */
  async add(name: string, password: string, account: string, permissions: Permissions | "all"): Promise<void> {
    validatePermissions(permissions);
    const hash = await hashPassword(password);
    await this.db.query(
      `insert into users (name, password_hash, account, permissions) values ($1, $2, $3, $4)
       on conflict (name) do update set password_hash = excluded.password_hash, account = excluded.account, permissions = excluded.permissions`,
      [name, hash, account, JSON.stringify(permissions)],
    );
  }

  async remove(name: string): Promise<boolean> {
    return (await this.db.query("delete from users where name = $1 returning name", [name])).length > 0;
  }

  async list(): Promise<User[]> {
    const rows = await this.db.query<Row>("select name, password_hash, account, permissions from users order by name");
    return rows.map(toUser);
  }

  /**
   * The user, if `password` is theirs. The hash is checked off the event loop, and refused at once
   * ("service busy") when it cannot finish before `deadline`.
   */
  async authenticate(name: string, password: string, within: VerifyPasswordOptions = {}): Promise<User | undefined> {
    const [row] = await this.db.query<Row>("select name, password_hash, account, permissions from users where name = $1", [name]);
    if (!row) {
      // A hash's worth of work for an unknown name too: an instant "no" would tell which names exist.
      await verifyPassword(await this.dummyHash(), password, within);
      return undefined;
    }
    return (await verifyPassword(row.password_hash, password, within)) ? toUser(row) : undefined;
  }

  /** Made once, by the same hashPassword (so the same argon2id parameters) as real hashes, of a password nobody knows. */
  private dummyHash(): Promise<string> {
    return (this.unknownUserHash ??= hashPassword(randomBytes(32).toString("base64url")));
  }
}

function toUser(row: Row): User {
  return { name: row.name, account: row.account, permissions: row.permissions ?? undefined };
}
