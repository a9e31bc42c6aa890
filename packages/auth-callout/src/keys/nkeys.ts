/**
 * NKey text <-> raw key bytes. Parsing, checksums and prefixes are nkeys.js's job; this module only
 * adapts its results to the raw 32-byte keys `node:crypto` wants.
 */
import { randomBytes } from "node:crypto";

import { Prefix } from "nkeys.js";
import { Codec } from "nkeys.js/lib/codec.js";

import { KeyError } from "../errors.js";

export type PublicKeyKind = "operator" | "account" | "user" | "server" | "curve";

const PREFIX: Record<PublicKeyKind, Prefix> = {
  operator: Prefix.Operator,
  account: Prefix.Account,
  user: Prefix.User,
  server: Prefix.Server,
  curve: Prefix.Curve,
};

const LETTER: Record<PublicKeyKind, string> = {
  operator: "O",
  account: "A",
  user: "U",
  server: "N",
  curve: "X",
};

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function describeKind(kind: PublicKeyKind): string {
  return `${kind} key ("${LETTER[kind]}…")`;
}

/** Raw 32-byte private key of a seed, checking its kind (`SA…` account, `SX…` curve, …). */
export function seedToRaw(seed: string, kind: PublicKeyKind): Uint8Array {
  if (typeof seed !== "string" || !seed.startsWith("S")) {
    throw new KeyError(`not an nkey seed (seeds start with "S${LETTER[kind]}")`);
  }
  let decoded: { prefix: Prefix; buf: Uint8Array };
  try {
    decoded = Codec.decodeSeed(encoder.encode(seed));
  } catch (e) {
    // nkeys' message says what is wrong with the encoding; it never contains the seed.
    throw new KeyError(`malformed seed: ${(e as Error).message}`, { cause: e });
  }
  if (decoded.prefix !== PREFIX[kind]) {
    throw new KeyError(`expected ${/^[aeiou]/.test(kind) ? "an" : "a"} ${kind} seed ("S${LETTER[kind]}…"), got one starting "S${seed[1] ?? ""}"`);
  }
  return decoded.buf;
}

/** Raw 32-byte public key, or a `KeyError` when `key` is not a valid key of that kind. */
export function publicKeyToRaw(key: string, kind: PublicKeyKind): Uint8Array {
  if (typeof key !== "string" || key[0] !== LETTER[kind]) {
    throw new KeyError(`not a ${describeKind(kind)}`);
  }
  try {
    return Codec.decode(PREFIX[kind], encoder.encode(key));
  } catch (e) {
    throw new KeyError(`malformed ${describeKind(kind)}: ${(e as Error).message}`, { cause: e });
  }
}

export function isPublicKey(key: unknown, kind: PublicKeyKind): key is string {
  if (typeof key !== "string") return false;
  try {
    publicKeyToRaw(key, kind);
    return true;
  } catch {
    return false;
  }
}

const BASE32_KEY = /^[A-Z][A-Z2-7]{55}$/;

/**
 * The shape of a public key of `kind` (its letter, 56 base32 characters), without the checksum: for
 * keys in a request whose signature is checked anyway, by a key that is fully decoded once and cached.
 */
export function hasPublicKeyShape(key: unknown, kind: PublicKeyKind): key is string {
  return typeof key === "string" && key.length === 56 && key[0] === LETTER[kind] && BASE32_KEY.test(key);
}

/** A fresh random seed of `kind`, as text (`SU…`, `SA…`). */
export function newSeed(kind: PublicKeyKind): string {
  return decoder.decode(Codec.encodeSeed(PREFIX[kind], randomBytes(32)));
}

export function rawToPublicKey(raw: Uint8Array, kind: PublicKeyKind): string {
  return decoder.decode(Codec.encode(PREFIX[kind], raw));
}
