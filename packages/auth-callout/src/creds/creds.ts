import { fmtCreds } from "@nats-io/jwt";
import { fromSeed } from "nkeys.js";

import { KeyError } from "../errors.js";
import type { Grant } from "../grant/grant.js";
import { signUserJwt } from "../grant/user-claims.js";
import { decodeJwt, type JwtClaims } from "../jwt/jwt.js";
import { Ed25519Signer } from "../keys/ed25519.js";
import { newSeed } from "../keys/nkeys.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export interface IssueUserCredentialsOptions {
  /** What the user may do; `grant.account` is the account's name (informational) or public key. */
  grant: Grant;
  /** Seed of the account, or of one of its signing keys, that signs the user JWT. */
  signingKeySeed: string;
  /** The account's public key, when `signingKeySeed` is a signing key (sets `issuer_account`). */
  account?: string;
  /** The signing key is scoped: leave permissions and limits out of the grant. */
  scoped?: boolean;
}

export interface UserCredentials {
  jwt: string;
  /** The user's seed (`SU…`): a secret. */
  seed: string;
  publicKey: string;
  /** The standard `.creds` text: JWT and seed, as `nats --creds` and every client library read it. */
  creds: string;
}

/**
 * Mints a new user: a fresh user key and a user JWT for it, signed by an account (operator mode), as
 * `.creds`. For services that hand short-lived credentials to clients: give the grant an expiry.
 */
export function issueUserCredentials(options: IssueUserCredentialsOptions): UserCredentials {
  const signer = Ed25519Signer.fromSeed(options.signingKeySeed, "account");
  const seed = newSeed("user");
  const publicKey = Ed25519Signer.fromSeed(seed, "user").publicKey;
  const account = options.account ?? signer.publicKey;
  const jwt = signUserJwt(options.grant, publicKey, undefined, {
    signer,
    issuerAccount: account !== signer.publicKey ? account : undefined,
    audience: account,
    scoped: options.scoped === true,
  });
  return { jwt, seed, publicKey, creds: decoder.decode(fmtCreds(jwt, fromSeed(encoder.encode(seed)))) };
}

const BLOCK = /-{3,}BEGIN ([A-Z ]+)-{3,}\s*\n\s*(\S+)\s*\n\s*-{3,}END \1-{3,}/g;

export interface ParsedCredentials {
  jwt: string;
  seed: string;
  publicKey: string;
  /** The JWT's claims, decoded but not verified: check them with `verifyPresentedJwt` where it matters. */
  claims: JwtClaims;
}

/** Reads `.creds` text; the seed must be a user seed and belong to the JWT's subject. */
export function parseCreds(text: string): ParsedCredentials {
  const blocks = new Map<string, string>();
  for (const m of text.matchAll(BLOCK)) blocks.set(m[1] as string, m[2] as string);
  const jwt = blocks.get("NATS USER JWT");
  const seed = blocks.get("USER NKEY SEED");
  if (!jwt || !seed) throw new KeyError("not a .creds file: expected a NATS USER JWT and a USER NKEY SEED block");
  const publicKey = Ed25519Signer.fromSeed(seed, "user").publicKey;
  const claims = decodeJwt(jwt).claims;
  if (claims.sub !== publicKey) throw new KeyError("the .creds seed does not belong to its JWT's subject");
  return { jwt, seed, publicKey, claims };
}
