// The SQL users directory: the repository on PGlite (and on Postgres when DATABASE_URL is set), the
// admin command, and the service admitting its users through a real nats-server's auth callout.
import "reflect-metadata";

import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

import { captureLogs, configModeCallout, registerSecret, spawnTracked, startNatsServer, type ConfigModeCallout, type NatsServer } from "@natsflow/testing";
import { connect, type NatsConnection } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { openDatabase, type Database } from "../src/database.js";
import { databaseFromEnv } from "../src/env.js";
import { createUsersDbService } from "../src/service.js";
import { UserRepository } from "../src/users.js";

const ADMIN = fileURLToPath(new URL("../dist/admin.js", import.meta.url));
const MAIN = fileURLToPath(new URL("../dist/main.js", import.meta.url));
const PASSWORD = "al1ce-long-passw0rd";
registerSecret(PASSWORD);

function repositorySuite(name: string, open: () => Promise<Database>): void {
  describe(`the users repository on ${name}`, () => {
    let db: Database;
    let users: UserRepository;
    beforeAll(async () => {
      db = await open();
      await db.exec("drop table if exists users");
      users = new UserRepository(db);
      await users.onStartup();
      await users.onStartup(); // the migration runs again harmlessly
    });
    afterAll(() => db?.close());

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
      expect(await users.remove("bob")).toBe(true);
      expect(await users.remove("bob")).toBe(false);
    });

    it("refuses to store permissions the callout would refuse, or read as allow-all", async () => {
      await expect(users.add("carol", PASSWORD, "APP", { publish: { allow: ["orders.>"] } } as never)).rejects.toThrow(/permissions\.publish: unknown key; did you mean "pub"\?/);
      await expect(users.add("carol", PASSWORD, "APP", undefined as never)).rejects.toThrow(/permissions: missing/);
      expect((await users.list()).map((u) => u.name)).not.toContain("carol");
    });
  });
}

repositorySuite("PGlite, in memory", () => openDatabase({}));
if (process.env.DATABASE_URL) repositorySuite("Postgres (DATABASE_URL)", () => openDatabase({ url: process.env.DATABASE_URL }));

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
    expect(() => databaseFromEnv({ DATABASE_URL: "mysql://x" })).toThrow(/^DATABASE_URL: must be a postgres:\/\/ URL/);
    const failed = await openDatabase({ url: "postgres://app:hunter2-pw@127.0.0.1:1/users" }).then(() => undefined, (e: unknown) => e as Error);
    expect(failed?.message).toMatch(/^DATABASE_URL: cannot reach Postgres/);
    expect(failed?.message).not.toContain("hunter2-pw");
  });
});

describe("the users-db service on a real nats-server", () => {
  let setup: ConfigModeCallout;
  let server: NatsServer;
  let dir: string;
  beforeAll(async () => {
    setup = configModeCallout({ xkey: true });
    server = await startNatsServer({ config: setup.serverConfig });
    dir = mkdtempSync(join(tmpdir(), "natsflow-users-db-"));
  });
  afterAll(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const admin = async (args: string[], password?: string) => {
    const p = spawnTracked(process.execPath, [ADMIN, ...args], {
      label: "users-db admin.js",
      env: { PATH: process.env.PATH ?? "", DATABASE_DIR: dir, ...(password ? { USER_PASSWORD: password } : {}) },
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
    // PGlite is one process's database: the admin command runs while the service is not.
    expect(await admin(["add", "alice", "APP", JSON.stringify({ pub: { allow: ["orders.>", "$SYS.REQ.USER.INFO"] }, sub: { allow: ["_INBOX.>"] } })], PASSWORD)).toMatchObject({ code: 0 });
    const listed = await admin(["list"]);
    expect(listed.output).toMatch(/^alice\tAPP\t/m);
    expect(listed.output).not.toContain(PASSWORD);
    expect(await admin(["add", "nobody"])).toMatchObject({ code: 2 });

    const app = await createUsersDbService({
      connection: { servers: server.url, ...setup.serviceUser },
      callout: setup.callout,
      database: await openDatabase({ dir }),
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
        DATABASE_DIR: dir,
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
