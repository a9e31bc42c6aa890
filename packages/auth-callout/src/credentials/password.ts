import { createHash, timingSafeEqual } from "node:crypto";

import { argon2id, argon2Verify, bcrypt, bcryptVerify } from "hash-wasm";

import { AuthError } from "../errors.js";

export interface VerifyPasswordOptions {
  /** Treat a stored value that is not a recognised hash as plain text. For demos only. */
  allowPlaintext?: boolean;
}

const ARGON2 = /^\$argon2(id|i|d)\$/;
const BCRYPT = /^\$2[aby]\$\d\d\$/;

/**
 * Checks a presented password against a stored argon2 (`$argon2id$…`) or bcrypt (`$2b$…`) hash.
 * A stored value of another shape is an error, not a plain-text comparison, unless `allowPlaintext`.
 */
export async function verifyPassword(stored: string, presented: string | undefined, options: VerifyPasswordOptions = {}): Promise<boolean> {
  if (typeof presented !== "string" || presented.length === 0) return false;
  if (ARGON2.test(stored)) return argon2Verify({ password: presented, hash: stored });
  if (BCRYPT.test(stored)) return bcryptVerify({ password: presented, hash: stored });
  if (!options.allowPlaintext) throw new AuthError("stored password is not an argon2 or bcrypt hash");
  // Digests first, so the comparison takes the same time whatever the lengths.
  return timingSafeEqual(createHash("sha256").update(stored).digest(), createHash("sha256").update(presented).digest());
}

/** Hashes a password for storage: argon2id (default) or bcrypt, with a random salt. */
export async function hashPassword(password: string, algorithm: "argon2id" | "bcrypt" = "argon2id"): Promise<string> {
  const salt = crypto.getRandomValues(new Uint8Array(16));
  if (algorithm === "bcrypt") return bcrypt({ password, salt, costFactor: 10, outputType: "encoded" });
  return argon2id({ password, salt, parallelism: 1, iterations: 2, memorySize: 19456, hashLength: 32, outputType: "encoded" });
}
