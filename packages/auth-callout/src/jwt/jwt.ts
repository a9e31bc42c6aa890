/**
 * NATS JWTs (`alg: ed25519-nkey`): base64url(header).base64url(claims).base64url(sig), the signature
 * over the first two parts. Encoding and verification use the cached `node:crypto` keys; the JSON
 * work is done once per token.
 */
import { randomUUID } from "node:crypto";

import { CalloutRequestError } from "../errors.js";
import { verifyEd25519, type Ed25519Signer } from "../keys/ed25519.js";
import type { PublicKeyKind } from "../keys/nkeys.js";

export const JWT_ALGORITHM = "ed25519-nkey";
const HEADER = Buffer.from(JSON.stringify({ typ: "JWT", alg: JWT_ALGORITHM })).toString("base64url");
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** Claims every NATS JWT carries; `nats` holds the type-specific part. */
export interface JwtClaims<N = Record<string, unknown>> {
  jti?: string;
  iat?: number;
  exp?: number;
  nbf?: number;
  iss: string;
  sub: string;
  aud?: string;
  name?: string;
  nats: N;
}

export interface DecodedJwt<N = Record<string, unknown>> {
  readonly header: { typ?: unknown; alg?: unknown };
  readonly claims: JwtClaims<N>;
  readonly signingInput: Buffer;
  readonly signature: Buffer;
}

/** Signs claims; fills in `jti` and `iat`. */
export function encodeJwt(claims: JwtClaims, signer: Ed25519Signer, nowSeconds = Math.floor(Date.now() / 1000)): string {
  const body = Buffer.from(JSON.stringify({ jti: randomUUID(), iat: nowSeconds, ...claims })).toString("base64url");
  const input = `${HEADER}.${body}`;
  return `${input}.${signer.sign(Buffer.from(input)).toString("base64url")}`;
}

function part(segment: string, what: string): Buffer {
  if (!BASE64URL.test(segment)) throw new CalloutRequestError(`malformed JWT: ${what} is not base64url`);
  return Buffer.from(segment, "base64url");
}

function json(segment: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(part(segment, what).toString("utf8"));
  } catch (e) {
    if (e instanceof CalloutRequestError) throw e;
    throw new CalloutRequestError(`malformed JWT: ${what} is not JSON`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new CalloutRequestError(`malformed JWT: ${what} is not a JSON object`);
  }
  return value as Record<string, unknown>;
}

/** Splits and parses a token without trusting it; `verifyJwt` decides whether to. */
export function decodeJwt<N = Record<string, unknown>>(token: string): DecodedJwt<N> {
  const dot1 = token.indexOf(".");
  const dot2 = token.indexOf(".", dot1 + 1);
  if (dot1 <= 0 || dot2 <= dot1 + 1 || dot2 === token.length - 1 || token.indexOf(".", dot2 + 1) !== -1) {
    throw new CalloutRequestError("malformed JWT: expected three dot-separated parts");
  }
  const header = json(token.slice(0, dot1), "header");
  const claims = json(token.slice(dot1 + 1, dot2), "claims");
  const signature = part(token.slice(dot2 + 1), "signature");
  return {
    header,
    claims: claims as unknown as JwtClaims<N>,
    signingInput: Buffer.from(token.slice(0, dot2)),
    signature,
  };
}

/** The header says a NATS JWT: `alg` ed25519-nkey, `typ` JWT when present. */
export function checkJwtHeader(decoded: DecodedJwt<unknown>): void {
  if (decoded.header.alg !== JWT_ALGORITHM) {
    throw new CalloutRequestError(`unsupported JWT algorithm ${JSON.stringify(decoded.header.alg)}`);
  }
  if (decoded.header.typ !== undefined && decoded.header.typ !== "JWT") {
    throw new CalloutRequestError(`unsupported JWT type ${JSON.stringify(decoded.header.typ)}`);
  }
}

/** Checks the header, that `iss` is a key of the expected kind, and the signature. */
export function verifyJwt(decoded: DecodedJwt<unknown>, issuerKind: PublicKeyKind): void {
  checkJwtHeader(decoded);
  const iss = decoded.claims.iss;
  if (typeof iss !== "string" || !verifyEd25519(iss, issuerKind, decoded.signingInput, decoded.signature)) {
    throw new CalloutRequestError("bad signature");
  }
}
