import type { User } from "@nats-io/jwt";

import { AuthError, CalloutRequestError } from "../errors.js";
import { decodeJwt, verifyJwt, type JwtClaims } from "../jwt/jwt.js";
import type { AuthRequest } from "../request/auth-request.js";
import { verifyNonceSignature } from "./nonce-signature.js";

export interface PresentedJwtOptions {
  /**
   * Keys allowed to have signed the JWT: account keys, or their signing keys. When the JWT names an
   * `issuer_account`, that account must be trusted too.
   */
  trustedIssuers: readonly string[];
  /** Accept a bearer JWT (no nonce signature). Default false. */
  allowBearer?: boolean;
}

export type PresentedUserClaims = JwtClaims<Partial<User>>;

/**
 * A user JWT the client presented (its `.creds`), verified: signed by a trusted issuer, current, a
 * user JWT, and — unless it is a bearer token and those are allowed — the nonce signed by its subject.
 * Presented JWTs reach the callout in operator mode only; config mode servers drop them.
 */
export function verifyPresentedJwt(request: AuthRequest, options: PresentedJwtOptions): PresentedUserClaims {
  const token = request.jwt;
  if (!token) throw new AuthError("no user JWT presented");
  let claims: PresentedUserClaims;
  try {
    const decoded = decodeJwt<Partial<User>>(token);
    verifyJwt(decoded, "account");
    claims = decoded.claims;
  } catch (e) {
    if (e instanceof CalloutRequestError) throw new AuthError(`presented JWT rejected: ${e.message}`, { cause: e });
    throw e;
  }
  if (claims.nats?.type !== "user") throw new AuthError("presented JWT is not a user JWT");
  if (!options.trustedIssuers.includes(claims.iss)) throw new AuthError("presented JWT is not from a trusted issuer");
  const issuerAccount = claims.nats.issuer_account;
  if (issuerAccount !== undefined && !options.trustedIssuers.includes(issuerAccount)) {
    throw new AuthError("presented JWT's issuer account is not trusted");
  }
  const now = Date.now() / 1000;
  if (typeof claims.exp === "number" && claims.exp <= now) throw new AuthError("presented JWT has expired");
  if (typeof claims.nbf === "number" && claims.nbf > now) throw new AuthError("presented JWT is not valid yet");
  if (!(claims.nats.bearer_token && options.allowBearer)) verifyNonceSignature(request, claims.sub);
  return claims;
}
