import { chmod, mkdir, stat } from "node:fs/promises";

import { PGlite } from "@electric-sql/pglite";
import { SetupError, type OnShutdown } from "@natsflow/core";
import pg from "pg";

/** What a SQL engine must do for the repositories: parameterised queries (`$1`), scripts, closing. */
interface Driver {
  query<T extends object>(sql: string, params: unknown[]): Promise<T[]>;
  exec(sql: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * The SQL the repositories run, injected by this class: PGlite (Postgres compiled to WebAssembly, in
 * this process) by default, a real Postgres through `pg` when DATABASE_URL is set. Same SQL either way.
 */
export class Database implements OnShutdown {
  constructor(
    readonly kind: "pglite" | "postgres",
    private readonly driver: Driver,
  ) {}

  query<T extends object>(sql: string, params: unknown[] = []): Promise<T[]> {
    return this.driver.query<T>(sql, params);
  }

  /** Several statements, no parameters: migrations. */
  exec(sql: string): Promise<void> {
    return this.driver.exec(sql);
  }

  close(): Promise<void> {
    return this.driver.close();
  }

  /** Provided to an app, it is closed once the app has stopped. */
  onShutdown(): Promise<void> {
    return this.close();
  }
}

function pglite(db: PGlite): Driver {
  return {
    query: async <T extends object>(sql: string, params: unknown[]) => (await db.query<T>(sql, params)).rows,
    exec: async (sql) => void (await db.exec(sql)),
    close: async () => {
      if (!db.closed) await db.close();
    },
  };
}

function postgres(pool: pg.Pool): Driver {
  let closed = false;
  return {
    query: async <T extends object>(sql: string, params: unknown[]) => (await pool.query<T>(sql, params)).rows,
    exec: async (sql) => void (await pool.query(sql)),
    close: async () => {
      if (closed) return;
      closed = true;
      await pool.end();
    },
  };
}

export interface DatabaseSettings {
  /** postgres://… — a real Postgres. */
  url?: string | undefined;
  /** Where PGlite keeps its files; in memory when absent (gone when the process ends). */
  dir?: string | undefined;
}

/** Opens the database the settings name, checking it answers: a wrong URL fails at start, naming it. */
export async function openDatabase(settings: DatabaseSettings): Promise<Database> {
  if (settings.url) {
    const pool = new pg.Pool({ connectionString: settings.url, max: 4 });
    // An idle connection that breaks would otherwise crash the process; the next query reports it.
    pool.on("error", () => undefined);
    try {
      await pool.query("select 1");
    } catch (e) {
      await pool.end();
      // The URL may hold a password: name the setting, not its value.
      throw new SetupError("DATABASE_URL", `cannot reach Postgres: ${(e as Error).message}.`, "check the host, port, database and credentials in it.", { cause: e });
    }
    return new Database("postgres", postgres(pool));
  }
  if (!settings.dir) return new Database("pglite", pglite(await PGlite.create()));
  await privateDirectory(settings.dir);
  return new Database("pglite", pglite(await PGlite.create({ dataDir: settings.dir })));
}

/**
 * PGlite writes its files 0666 under the umask, and its WAL holds the password hashes: the directory
 * is made 0700, and one that exists (from an earlier version, say) is tightened to 0700.
 */
async function privateDirectory(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    if (((await stat(dir)).mode & 0o077) !== 0) await chmod(dir, 0o700);
  } catch (e) {
    throw new SetupError("DATABASE_DIR", `cannot make ${dir} private (0700): ${(e as Error).message}.`, "point it at a directory this user owns, or create it with mode 0700.", { cause: e });
  }
}
