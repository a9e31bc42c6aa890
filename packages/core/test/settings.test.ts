import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inspect } from "node:util";

import { loadSettings, SetupError } from "@natsflow/core";
import { captureLogs } from "@natsflow/testing";
import * as v from "valibot";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "natsflow-settings-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const Zod = z.object({
  DATABASE_URL: z.string().startsWith("postgres://"),
  PORT: z.coerce.number().int().default(8080),
  API_TOKEN: z.string().min(12),
});

describe("loadSettings", () => {
  it("types and converts the variables with a zod schema, the environment winning over .env", async () => {
    const envFile = join(dir, "one.env");
    await writeFile(envFile, "PORT=9000\nAPI_TOKEN=from-the-file-secret\nDATABASE_URL=postgres://file\n");
    const env: Record<string, string | undefined> = { DATABASE_URL: "postgres://app:pw-7@db/app" };
    const settings = await loadSettings(Zod, { env, envFile });
    expect(settings).toEqual({ DATABASE_URL: "postgres://app:pw-7@db/app", PORT: 9000, API_TOKEN: "from-the-file-secret" });
    // The file's variables join the environment (so NatsApp reads NATS_URL & co. from it too).
    expect(env.PORT).toBe("9000");
    expect(Object.isFrozen(settings)).toBe(true);
  });

  it("shows secrets and URL passwords as [redacted] in JSON, inspect and pino", async () => {
    const settings = await loadSettings(Zod, { env: { DATABASE_URL: "postgres://app:pw-7@db/app", API_TOKEN: "tok-123456789-secret" }, envFile: false });
    expect(settings.API_TOKEN).toBe("tok-123456789-secret");
    for (const shown of [JSON.stringify(settings), inspect(settings)]) {
      expect(shown).not.toMatch(/tok-123456789|pw-7/);
      expect(shown).toContain("[redacted]");
    }
    const logs = captureLogs();
    logs.logger.info({ settings }, "settings");
    expect(JSON.stringify(logs.lines)).not.toMatch(/tok-123456789|pw-7/);
  });

  it("a refused variable is a SetupError naming it, never quoting a secret", async () => {
    const failed = (await loadSettings(Zod, { env: { DATABASE_URL: "mysql://x", API_TOKEN: "short" }, envFile: false }).then(() => undefined, (e: unknown) => e)) as SetupError;
    expect(failed).toBeInstanceOf(SetupError);
    expect(failed.setting).toBe("DATABASE_URL");
    expect(failed.message).toMatch(/^DATABASE_URL: .*\(also API_TOKEN: .*\)\. Fix: set DATABASE_URL in the environment\.$/);
    // valibot quotes what it received: a secret's value is hidden.
    const Secret = v.object({ DB_PASSWORD: v.pipe(v.string(), v.regex(/^[a-z]{20,}$/)) });
    const hidden = (await loadSettings(Secret, { env: { DB_PASSWORD: "hunter2-Secret" }, envFile: false }).then(() => undefined, (e: unknown) => e)) as SetupError;
    expect(hidden.message).toMatch(/^DB_PASSWORD: /);
    expect(hidden.message).not.toContain("hunter2-Secret");
  });

  it("a missing variable names itself; a missing envFile given by path, and a non-schema, fail at once", async () => {
    await expect(loadSettings(Zod, { env: { API_TOKEN: "tok-123456789-secret" }, envFile: false })).rejects.toThrow(/^DATABASE_URL: .*Fix: set DATABASE_URL/);
    await expect(loadSettings(Zod, { env: {}, envFile: join(dir, "missing.env") })).rejects.toThrow(/^envFile: cannot read .*missing\.env \(ENOENT\)/);
    await expect(loadSettings({} as never)).rejects.toThrow(/^loadSettings schema: is not a Standard Schema/);
  });
});
