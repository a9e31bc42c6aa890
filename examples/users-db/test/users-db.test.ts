// The SQL users directory on PGlite and on a real PostgreSQL (one per file, from the test kit): the
// repository and its migration, the admin command, and the service admitting its users through a real
// nats-server's auth callout.
import "reflect-metadata";

import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

import {
  captureLogs,
  configModeCallout,
  postgresOrSkip,
  registerSecret,
  spawnTracked,
  startNatsServer,
  startPostgres,
  type ConfigModeCallout,
  type NatsServer,
  type PostgresServer,
} from "@natsflow/testing";
import { connect, type NatsConnection } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { openDatabase, type Database, type DatabaseSettings } from "../src/database.js";
import { databaseFromSettings } from "../src/settings.js";
import { createUsersDbService } from "../src/service.js";
import { UserRepository } from "../src/users.js";

const ADMIN = fileURLToPath(new URL("../dist/admin.js", import.meta.url));
const MAIN = fileURLToPath(new URL("../dist/main.js", import.meta.url));
const PASSWORD = "al1ce-long-passw0rd";
registerSecret(PASSWORD);

/** Where the suite's data lives: settings for openDatabase, and the environment the admin command and main.js read. */
interface Backend {
  name: string;
  /** A fresh database for the repository's tests. */
  openEmpty(): Promise<Database>;
  /** A fresh database that processes (admin.js, main.js) and the test share. */
  shared(): Promise<{ settings: DatabaseSettings; env: Record<string, string> }>;
}

// None here (and not under CI, where `npm run setup` installs it): the PostgreSQL half is skipped, saying so.
const postgresFound = await postgresOrSkip("the users-db suite");
let postgres: PostgresServer | undefined;
let databases = 0;
beforeAll(async () => {
  if (!postgresFound) return;
  postgres = await startPostgres();
  console.log(`users-db suite on PostgreSQL ${postgres.version} at ${postgres.host}:${postgres.port}`);
});
afterAll(() => postgres?.stop());

/** A new database on the file's PostgreSQL: each suite starts empty. */
async function createPostgresDatabase(): Promise<string> {
  const server = postgres as PostgresServer;
  const name = `users_${++databases}`;
  const db = await openDatabase({ url: server.url });
  try {
    await db.exec(`create database ${name}`);
  } finally {
    await db.close();
  }
  const url = new URL(server.url);
  url.pathname = `/${name}`;
  return url.toString();
}

const pgliteDirs: string[] = [];
afterAll(() => pgliteDirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

const backends: Backend[] = [
  {
    name: "PGlite",
    openEmpty: () => openDatabase({}),
    shared: async () => {
      const dir = mkdtempSync(join(tmpdir(), "natsflow-users-db-"));
      pgliteDirs.push(dir);
      return { settings: { dir }, env: { DATABASE_DIR: dir } };
    },
  },
  ...(postgresFound
    ? [
        {
          name: "PostgreSQL",
          openEmpty: async () => openDatabase({ url: await createPostgresDatabase() }),
          shared: async () => {
            const url = await createPostgresDatabase();
            return { settings: { url }, env: { DATABASE_URL: url } };
          },
        },
      ]
    : []),
];

for (const backend of backends) describe(`the users repository on ${backend.name}`, () => {
  let db: Database;
  let users: UserRepository;
  beforeAll(async () => {
    db = await backend.openEmpty();
    users = new UserRepository(db);
    await users.onStartup();
    await users.onStartup(); // the migration runs again harmlessly
  });
  afterAll(() => db?.close());

  it("migrates: the users table with its columns and types", async () => {
    const columns = await db.query<{ column_name: string; data_type: string; is_nullable: string }>(
      "select column_name, data_type, is_nullable from information_schema.columns where table_name = 'users' order by ordinal_position",
    );
    expect(columns.map((c) => `${c.column_name} ${c.data_type}${c.is_nullable === "NO" ? " not null" : ""}`)).toEqual([
      "name text not null",
      "password_hash text not null",
      "account text not null",
      "permissions jsonb",
      "created_at timestamp with time zone not null",
    ]);
  });

  it("adds users with argon2id hashes, authenticates them, replaces and removes them", async () => {
    await users.add("alice", PASSWORD, "APP", { pub: { allow: ["orders.>"] }, sub: { allow: ["_INBOX.>"] } });
    await users.add("bob", "b0b-passw0rd-1", "APP", "all");
    const [row] = await db.query<{ password_hash: string }>("select password_hash from users where name = $1", ["alice"]);
    expect(row?.password_hash).toMatch(/^\$argon2id\$/);
    expect(await users.authenticate("alice", PASSWORD)).toEqual({ name: "alice", account: "APP", permissions: { pub: { allow: ["orders.>"] }, sub: { allow: ["_INBOX.>"] } } });
    expect(await users.authenticate("alice", "wrong")).toBeUndefined();
    expect(await users.authenticate("nobody", PASSWORD)).toBeUndefined();
    await users.add("bob", "new-b0b-passw0rd", "OTHER", "all");
    expect((await users.list()).find((u) => u.name === "bob")?.permissions).toBe("all");
    expect(await users.authenticate("bob", "b0b-passw0rd-1")).toBeUndefined();
    expect((await users.authenticate("bob", "new-b0b-passw0rd"))?.account).toBe("OTHER");
    expect((await users.list()).map((u) => u.name)).toEqual(["alice", "bob"]);
    // A restart runs the migration over the existing table: the users stay.
    await new UserRepository(db).onStartup();
    expect((await users.list()).map((u) => u.name)).toEqual(["alice", "bob"]);
    expect(await users.remove("bob")).toBe(true);
    expect(await users.remove("bob")).toBe(false);
  });

  it("refuses to store permissions the callout would refuse, or read as allow-all", async () => {
    await expect(users.add("carol", PASSWORD, "APP", { publish: { allow: ["orders.>"] } } as never)).rejects.toThrow(/permissions\.publish: unknown key; did you mean "pub"\?/);
    await expect(users.add("carol", PASSWORD, "APP", undefined as never)).rejects.toThrow(/permissions: missing/);
    expect((await users.list()).map((u) => u.name)).not.toContain("carol");
  });
});

describe("the PGlite data directory", () => {
  const mode = (path: string) => statSync(path).mode & 0o777;
  let parent: string;
  beforeAll(() => {
    parent = mkdtempSync(join(tmpdir(), "natsflow-users-db-mode-"));
  });
  afterAll(() => rmSync(parent, { recursive: true, force: true }));

  it("is created 0700: the WAL holds the password hashes", async () => {
    const dir = join(parent, "new", "data");
    const db = await openDatabase({ dir });
    await db.close();
    expect(mode(dir)).toBe(0o700);
  });

  it("is tightened to 0700 when it exists with a wider mode", async () => {
    const dir = join(parent, "old");
    mkdirSync(dir);
    chmodSync(dir, 0o777);
    const db = await openDatabase({ dir });
    await db.close();
    expect(mode(dir)).toBe(0o700);
  });
});

describe("DATABASE_URL", () => {
  it("must be a postgres:// URL, and one that answers, named in the error without its password", async () => {
    await expect(databaseFromSettings({ DATABASE_URL: "mysql://app:pw-secret@x" })).rejects.toThrow(/^DATABASE_URL: must be a postgres:\/\/ URL/);
    await expect(databaseFromSettings({ DATABASE_URL: "mysql://app:pw-secret@x" })).rejects.not.toThrow(/pw-secret/);
    const failed = await openDatabase({ url: "postgres://app:hunter2-pw@127.0.0.1:1/users" }).then(() => undefined, (e: unknown) => e as Error);
    expect(failed?.message).toMatch(/^DATABASE_URL: cannot reach Postgres/);
    expect(failed?.message).not.toContain("hunter2-pw");
  });

  it.runIf(postgresFound)("names DATABASE_URL, not the password, when the PostgreSQL server refuses the login", async () => {
    const url = new URL((postgres as PostgresServer).url);
    url.password = "hunter2-pw";
    const failed = await openDatabase({ url: url.toString() }).then(() => undefined, (e: unknown) => e as Error);
    expect(failed?.message).toMatch(/^DATABASE_URL: cannot reach Postgres: password authentication failed for user "postgres"/);
    expect(failed?.message).not.toContain("hunter2-pw");
  });
});

describe("the users-db service on a real nats-server", () => {
  let setup: ConfigModeCallout;
  let server: NatsServer;
  beforeAll(async () => {
    setup = configModeCallout({ xkey: true });
    server = await startNatsServer({ config: setup.serverConfig });
  });
  afterAll(() => server?.stop());

  for (const backend of backends) describe(`with its users on ${backend.name}`, () => {
    let database: { settings: DatabaseSettings; env: Record<string, string> };
    beforeAll(async () => {
      database = await backend.shared();
    });

    const admin = async (args: string[], password?: string) => {
      const p = spawnTracked(process.execPath, [ADMIN, ...args], {
        label: "users-db admin.js",
        env: { PATH: process.env.PATH ?? "", ...database.env, ...(password ? { USER_PASSWORD: password } : {}) },
      });
      const exit = await p.exited;
      return { code: exit.code, output: p.output };
    };
    /** A password login verifies an argon2id hash; on a machine busy with other tests the callout may answer "service busy", which a client retries. */
    const login = async (pass: string): Promise<NatsConnection> => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await connect({ servers: server.url, user: "alice", pass, reconnect: false });
        } catch (e) {
          if (attempt === 3) throw e;
          await new Promise((r) => setTimeout(r, 300));
        }
      }
    };
    const whoAmI = async (nc: NatsConnection) => {
      const reply = await nc.request("$SYS.REQ.USER.INFO", new Uint8Array(0), { timeout: 5_000 });
      return (JSON.parse(new TextDecoder().decode(reply.data)) as { data: { account: string; permissions?: { publish?: { allow?: string[] } } } }).data;
    };

    it("admits a user the admin command added, into their account, and refuses a wrong password", async () => {
      // PGlite is one process's database: the admin command runs while the service is not (on PostgreSQL it need not wait).
      expect(await admin(["add", "alice", "APP", JSON.stringify({ pub: { allow: ["orders.>", "$SYS.REQ.USER.INFO"] }, sub: { allow: ["_INBOX.>"] } })], PASSWORD)).toMatchObject({ code: 0 });
      const listed = await admin(["list"]);
      expect(listed.output).toMatch(/^alice\tAPP\t/m);
      expect(listed.output).not.toContain(PASSWORD);
      expect(await admin(["add", "nobody"])).toMatchObject({ code: 2 });

      const app = await createUsersDbService({
        connection: { servers: server.url, ...setup.serviceUser },
        callout: setup.callout,
        database: await openDatabase(database.settings),
        logger: captureLogs().logger,
      });
      await app.start();
      try {
        const nc = await login(PASSWORD);
        const me = await whoAmI(nc);
        expect(me.account).toBe("APP");
        // Her permissions came from the row.
        expect([...(me.permissions?.publish?.allow ?? [])].sort()).toEqual(["$SYS.REQ.USER.INFO", "orders.>"]);
        await nc.close();
        await expect(connect({ servers: server.url, user: "alice", pass: "wrong", reconnect: false })).rejects.toThrow(/authorization violation/i);
      } finally {
        await app.stop();
      }
      // Three admin processes and the service each open PGlite (seconds apiece on a busy machine).
    }, 90_000);

    it("admin add refuses permissions the callout would not understand, stores nothing, and exits non-zero", async () => {
      const bad: Array<[unknown, RegExp]> = [
        [{ publish: { allow: ["orders.>"] }, sub: { allow: ["_INBOX.>"] } }, /permissions\.publish: unknown key; did you mean "pub"\?/],
        [{ pub: "orders.>", sub: { allow: ["_INBOX.>"] } }, /permissions\.pub: must be \{ allow, deny \}, not a string/],
        [{ pub: { allow: [] }, sub: { allow: ["_INBOX.>"] } }, /permissions\.pub\.allow: empty/],
      ];
      // Refused before the database is opened, so they may run at once.
      const results = await Promise.all([
        ...bad.map(([permissions]) => admin(["add", "mallory", "APP", JSON.stringify(permissions)], "m4llory-passw0rd")),
        // Permissions are required: "all" says "no restriction" out loud.
        admin(["add", "mallory", "APP"], "m4llory-passw0rd"),
      ]);
      bad.forEach(([, why], i) => {
        expect(results[i]?.code).toBe(2);
        expect(results[i]?.output).toMatch(why);
        expect(results[i]?.output).toMatch(/refused, nothing stored/);
      });
      expect(results[3]).toMatchObject({ code: 2, output: expect.stringMatching(/usage: admin add <name> <account> <permissions JSON \| all>/) });
      expect((await admin(["list"])).output).not.toMatch(/^mallory\t/m);
    });

    it("runs as a process from its environment contract and exits 0 on SIGTERM", async () => {
      const service = spawnTracked(process.execPath, [MAIN], {
        label: "users-db main.js",
        env: {
          PATH: process.env.PATH ?? "",
          NATS_URL: server.url,
          NATS_USER: setup.serviceUser.user,
          NATS_PASSWORD: setup.serviceUser.pass,
          NATS_CALLOUT_ISSUER_SEED: setup.issuer.seed,
          NATS_CALLOUT_XKEY_SEED: setup.xkey?.seed,
          ...database.env,
        },
      });
      try {
        await service.waitForOutput(/natsflow app started/);
        const nc = await login(PASSWORD);
        expect((await whoAmI(nc)).account).toBe("APP");
        await nc.close();
      } finally {
        void service.stop();
      }
      expect((await service.exited).code).toBe(0);
      expect(service.output).not.toContain(setup.issuer.seed);
      const bad = spawnTracked(process.execPath, [MAIN], { label: "users-db main.js (bad config)", env: { PATH: process.env.PATH ?? "", NATS_CALLOUT_ISSUER_SEED: setup.issuer.seed, DATABASE_URL: "mysql://x" } });
      expect((await bad.exited).code).toBe(2);
      expect(bad.output).toMatch(/configuration error: DATABASE_URL: must be a postgres:\/\/ URL/);
    });
  });
});
