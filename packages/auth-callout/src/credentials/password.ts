import { createHash, timingSafeEqual } from "node:crypto";

import { hash as argon2Hash, verify as argon2Verify } from "@node-rs/argon2";
import { hash as bcryptHash, verify as bcryptVerify } from "@node-rs/bcrypt";

import { AuthError } from "../errors.js";
import { HashQueue, type HashQueueOptions } from "./hash-queue.js";

export interface VerifyPasswordOptions {
  /**
   * Epoch ms by which the answer is needed, usually `request.deadline`. A verification that cannot
   * finish by then, behind the hashes already queued, throws `OverloadedError` at once (the callout
   * answers "service busy"). Without it the verification simply waits its turn.
   */
  deadline?: number | undefined;
  /** Aborting it (e.g. `request.signal`) gives up a verification still waiting for its turn. */
  signal?: AbortSignal | undefined;
  /** Treat a stored value that is not a recognised hash as plain text. For demos only. */
  allowPlaintext?: boolean;
}

export type PasswordHashingOptions = HashQueueOptions;

const ARGON2 = /^\$argon2(id|i|d)\$/;
const BCRYPT = /^\$2[aby]\$(\d\d)\$/;
// What one verification costs depends on the parameters: each set gets its own estimate.
const ARGON2_PARAMS = /^\$argon2(?:id|i|d)\$(?:v=\d+\$)?m=(\d+),t=(\d+),p=\d+\$/;

// First guesses before anything is measured, on the slow side (measured here: ≈ 11 ms and ≈ 52 ms);
// the queue replaces them with what it measures.
const ARGON2_SEED_MS = 25; // per 19456 KiB × 2 passes
const BCRYPT_SEED_MS = 100; // at cost 10

let queue: HashQueue | undefined;

/**
 * Sets how many password hashes run at once in this process (default: the CPU count, leaving one
 * of libuv's threads spare); the rest wait in arrival order. Call it at start-up, before serving.
 */
export function configurePasswordHashing(options: PasswordHashingOptions): void {
  queue = new HashQueue(options);
}

function hashQueue(): HashQueue {
  return (queue ??= new HashQueue());
}

/**
 * Checks a presented password against a stored argon2 (`$argon2id$…`) or bcrypt (`$2b$…`) hash, on
 * libuv's threadpool, through the process's bounded hashing queue.
 * A stored value of another shape is an error, not a plain-text comparison, unless `allowPlaintext`.
 */
export async function verifyPassword(stored: string, presented: string | undefined, options: VerifyPasswordOptions = {}): Promise<boolean> {
  if (typeof presented !== "string" || presented.length === 0) return false;
  const { deadline, signal } = options;
  if (ARGON2.test(stored)) {
    const params = ARGON2_PARAMS.exec(stored);
    const seedMs = params ? (ARGON2_SEED_MS * Number(params[1]) * Number(params[2])) / (19456 * 2) : ARGON2_SEED_MS;
    return hashQueue().run({ kind: params?.[0] ?? "argon2", seedMs, deadline, signal, run: () => argon2Verify(stored, presented) });
  }
  const bcrypt = BCRYPT.exec(stored);
  if (bcrypt) {
    const seedMs = BCRYPT_SEED_MS * 2 ** (Number(bcrypt[1]) - 10);
    return hashQueue().run({ kind: bcrypt[0], seedMs, deadline, signal, run: () => bcryptVerify(presented, stored) });
  }
  if (!options.allowPlaintext) throw new AuthError("stored password is not an argon2 or bcrypt hash");
  // Digests first, so the comparison takes the same time whatever the lengths.
  return timingSafeEqual(createHash("sha256").update(stored).digest(), createHash("sha256").update(presented).digest());
}

/** Hashes a password for storage: argon2id (default; 19456 KiB, 2 passes) or bcrypt (cost 10), with a random salt. */
export async function hashPassword(password: string, algorithm: "argon2id" | "bcrypt" = "argon2id"): Promise<string> {
  if (algorithm === "bcrypt") return bcryptHash(password, { cost: 10 });
  // The binding's default algorithm is argon2id (its const enum cannot be imported under isolatedModules).
  return argon2Hash(password, { memoryCost: 19456, timeCost: 2, parallelism: 1, outputLen: 32 });
}
