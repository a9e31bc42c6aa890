// Fills the users-db example's directory up to N users for the bench, after its admin command has
// added the user the load logs in as (and so run its migration). Runs with the service's environment
// and working directory, through the example's own settings and Database, before the service starts:
// PGlite is one process's database.
//   node seed-users-db.js <users in all>
import { randomBytes } from "node:crypto";

import { hashPassword } from "@natsflow/auth-callout";

interface ExampleDatabase {
  query<T extends object>(sql: string, params?: unknown[]): Promise<T[]>;
  exec(sql: string): Promise<void>;
  close(): Promise<void>;
}
const example = (file: string) => new URL(`../../../examples/users-db/dist/${file}`, import.meta.url).href;
const { openDatabase } = (await import(example("database.js"))) as { openDatabase(settings: unknown): Promise<ExampleDatabase> };
const { databaseFromSettings } = (await import(example("settings.js"))) as { databaseFromSettings(): Promise<unknown> };

// Argon2id hashes made by the repository's own hashPassword (same parameters), of random passwords
// nobody logs in with. 100 000 distinct ones would take ≈ 20 CPU-minutes; how the rows are looked up
// and verified does not depend on two rows sharing a hash, so a few are reused.
const DISTINCT_HASHES = 16;

const total = Number(process.argv[2]);
const db = await openDatabase(await databaseFromSettings());
try {
  const hashes = await Promise.all(Array.from({ length: DISTINCT_HASHES }, () => hashPassword(randomBytes(18).toString("base64url"))));
  // Permissions like a real directory's: each user confined to its own subjects.
  await db.query(
    `insert into users (name, password_hash, account, permissions)
     select name, ($1::text[])[1 + i % ${DISTINCT_HASHES}], 'APP',
            jsonb_build_object('pub', jsonb_build_object('allow', jsonb_build_array('users.' || name || '.>')),
                               'sub', jsonb_build_object('allow', jsonb_build_array('users.' || name || '.>', '_INBOX.>')))
     from (select i, 'user' || i as name from generate_series(1, $2::int) as i) as filler
     on conflict (name) do nothing`,
    [hashes, Math.max(0, total - 1)],
  );
  await db.exec("analyze users");
  const [count] = await db.query<{ n: number }>("select count(*)::int as n from users");
  console.log(JSON.stringify({ users: count?.n ?? 0 }));
} finally {
  await db.close();
}
