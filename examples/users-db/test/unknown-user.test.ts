// An unknown user costs a password hash too: without one, the answer's speed tells who exists.
import "reflect-metadata";

import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";

import { openDatabase, type Database } from "../src/database.js";
import { UserRepository } from "../src/users.js";

// The real verifyPassword, counted.
const verified = vi.hoisted(() => [] as string[]);
vi.mock("@natsflow/auth-callout", async (original) => {
  const real = await original<typeof import("@natsflow/auth-callout")>();
  return {
    ...real,
    verifyPassword: (...args: Parameters<typeof real.verifyPassword>) => {
      verified.push(args[0]);
      return real.verifyPassword(...args);
    },
  };
});

describe("authenticating an unknown user", () => {
  let db: Database;
  let users: UserRepository;
  beforeAll(async () => {
    db = await openDatabase({});
    users = new UserRepository(db);
    await users.onStartup();
    await users.add("alice", "al1ce-long-passw0rd", "APP", "all");
  });
  afterAll(() => db?.close());

  it("verifies the password against a dummy argon2id hash with the real hashes' parameters", async () => {
    verified.length = 0;
    expect(await users.authenticate("nobody", "al1ce-long-passw0rd")).toBeUndefined();
    expect(await users.authenticate("somebody-else", "guess")).toBeUndefined();
    expect(verified).toHaveLength(2);
    const [row] = await db.query<{ password_hash: string }>("select password_hash from users where name = 'alice'");
    const params = (hash: string) => /^\$argon2id\$v=\d+\$m=\d+,t=\d+,p=\d+\$/.exec(hash)?.[0];
    expect(params(verified[0] as string)).toBeDefined();
    expect(params(verified[0] as string)).toBe(params(row?.password_hash as string));
    // Made once, not per request.
    expect(verified[1]).toBe(verified[0]);
    expect(verified[0]).not.toBe(row?.password_hash);
  });

  it("still verifies a known user's own hash", async () => {
    verified.length = 0;
    expect(await users.authenticate("alice", "al1ce-long-passw0rd")).toMatchObject({ name: "alice" });
    expect(verified).toHaveLength(1);
  });
});
