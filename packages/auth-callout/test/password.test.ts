// verifyPassword and hashPassword with the native bindings: hashes the old hash-wasm code made still
// verify, new ones have the same parameters, and hashing leaves the event loop free.
import { configurePasswordHashing, hashPassword, verifyPassword } from "@natsflow/auth-callout";
import { OverloadedError, SetupError } from "@natsflow/core";
import { describe, expect, it } from "vitest";

// Made once with hash-wasm 4.13 (the previous implementation), password "c0rrect horse".
const OLD_ARGON2ID = "$argon2id$v=19$m=19456,t=2,p=1$AwoRGB8mLTQ7QklQV15lbA$iaMyXCeOeiXbaGUTJCPrtqx6ZZK9Rgx7aqS9fW29PFg";
const OLD_BCRYPT = "$2a$10$.umPE/6kJRO5OijOTz3jZ.0xRY3nMVgSrnaeQNtxWPyFLrPhpHG1O";
const PASSWORD = "c0rrect horse";

describe("verifyPassword / hashPassword", () => {
  it("verifies hashes made by the previous implementation", async () => {
    expect(await verifyPassword(OLD_ARGON2ID, PASSWORD)).toBe(true);
    expect(await verifyPassword(OLD_ARGON2ID, "c0rrect hors")).toBe(false);
    expect(await verifyPassword(OLD_BCRYPT, PASSWORD)).toBe(true);
    // $2a$ and $2b$ differ only for passwords over 255 bytes.
    expect(await verifyPassword(OLD_BCRYPT.replace("$2a$", "$2b$"), PASSWORD)).toBe(true);
    expect(await verifyPassword(OLD_BCRYPT, "C0rrect horse")).toBe(false);
  });

  it("hashes with the same parameters as before: argon2id 19456 KiB, 2 passes, 1 lane; bcrypt cost 10", async () => {
    const a = await hashPassword("s3cret");
    expect(a).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    expect(await hashPassword("s3cret")).not.toBe(a);
    expect(await verifyPassword(a, "s3cret", { deadline: Date.now() + 5000 })).toBe(true);
    const b = await hashPassword("s3cret", "bcrypt");
    expect(b).toMatch(/^\$2b\$10\$[./A-Za-z0-9]{53}$/);
    expect(await verifyPassword(b, "s3cret", { deadline: Date.now() + 5000 })).toBe(true);
    expect(await verifyPassword(b, "s3cre")).toBe(false);
  });

  it("no password is never a match; plain text only when allowed, compared in constant time", async () => {
    expect(await verifyPassword(OLD_ARGON2ID, undefined)).toBe(false);
    expect(await verifyPassword(OLD_ARGON2ID, "")).toBe(false);
    await expect(verifyPassword("plain", "plain")).rejects.toThrow(/not an argon2 or bcrypt hash/);
    expect(await verifyPassword("plain", "plain", { allowPlaintext: true })).toBe(true);
    expect(await verifyPassword("plain", "plainer", { allowPlaintext: true })).toBe(false);
  });

  it("a deadline already passed is refused as busy without hashing", async () => {
    await expect(verifyPassword(OLD_ARGON2ID, PASSWORD, { deadline: Date.now() - 1 })).rejects.toBeInstanceOf(OverloadedError);
  });

  it("hashes off the event loop: timers keep firing while bcrypt runs", async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    try {
      // ≈ 50 ms each here; on the event loop, a 5 ms timer would fire about once between them.
      for (let i = 0; i < 4; i++) await verifyPassword(OLD_BCRYPT, PASSWORD);
    } finally {
      clearInterval(timer);
    }
    expect(ticks).toBeGreaterThanOrEqual(12);
  });

  it("configurePasswordHashing rejects a bad concurrency with a SetupError", () => {
    expect(() => configurePasswordHashing({ concurrency: 0 })).toThrow(SetupError);
    expect(() => configurePasswordHashing({ concurrency: 1 })).not.toThrow();
  });
});
