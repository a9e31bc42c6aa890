import type { User } from "@nats-io/jwt";

import type { AuthCalloutConfig } from "../config/callout-config.js";
import { InvalidGrantError } from "../errors.js";
import { encodeJwt, type JwtClaims } from "../jwt/jwt.js";
import type { Ed25519Signer } from "../keys/ed25519.js";
import type { AuthRequest } from "../request/auth-request.js";
import { enforceClientRestrictions } from "./client-restrictions.js";
import { checkGrantShape, checkSigner, validateGrant, type Grant } from "./grant.js";

/** -1 is the JWT encoding of "no limit". */
const UNLIMITED = -1;

/** The JWT's permissions and limits, as the (validated) grant wrote them; `"all"` is no restriction. */
function permissionsAndLimits(grant: Grant): Partial<User> {
  const p = grant.permissions === "all" ? undefined : grant.permissions;
  const l = grant.limits ?? {};
  return {
    pub: { ...(p?.pub.allow ? { allow: p.pub.allow } : {}), ...(p?.pub.deny ? { deny: p.pub.deny } : {}) },
    sub: { ...(p?.sub.allow ? { allow: p.sub.allow } : {}), ...(p?.sub.deny ? { deny: p.sub.deny } : {}) },
    ...(p?.resp ? { resp: { max: p.resp.max ?? 1, ttl: p.resp.ttl ?? 0 } } : {}),
    subs: l.subs ?? UNLIMITED,
    data: l.data ?? UNLIMITED,
    payload: l.payload ?? UNLIMITED,
    ...(l.src ? { src: l.src } : {}),
    ...(l.times ? { times: l.times } : {}),
    ...(l.locale ? { locale: l.locale } : {}),
    ...(grant.allowedConnectionTypes ? { allowed_connection_types: grant.allowedConnectionTypes } : {}),
  };
}

export interface IssuedUser {
  jwt: string;
  /** The account the user lands in, as the grant named it. */
  account: string;
}

/** Who signs a user JWT, and the claims that follow from that. */
export interface UserIssuer {
  signer: Ed25519Signer;
  /** The account's public key when `signer` is one of its signing keys (sets `issuer_account`). */
  issuerAccount?: string | undefined;
  /** Config mode: the target account's name. Operator mode: its public key. */
  audience: string;
  /** The signer is a scoped signing key: its template replaces permissions and limits. */
  scoped?: boolean;
}

/** Validates the grant and signs a user JWT for `subject` (a `U…` key). */
export function signUserJwt(grant: Grant, subject: string, defaultName: string | undefined, issuer: UserIssuer, nowMs = Date.now()): string {
  return signValidated(grant, validateGrant(grant, nowMs, { scoped: issuer.scoped === true }).exp, subject, defaultName, issuer, nowMs);
}

function signValidated(grant: Grant, exp: number | undefined, subject: string, defaultName: string | undefined, issuer: UserIssuer, nowMs: number): string {
  const claims: JwtClaims<Partial<User>> = {
    iss: issuer.signer.publicKey,
    sub: subject,
    aud: issuer.audience,
    name: grant.name ?? defaultName ?? "",
    ...(exp !== undefined ? { exp } : {}),
    nats: {
      ...(issuer.scoped ? {} : permissionsAndLimits(grant)),
      ...(grant.tags ? { tags: grant.tags } : {}),
      ...(issuer.issuerAccount ? { issuer_account: issuer.issuerAccount } : {}),
      type: "user",
      version: 2,
    },
  };
  return encodeJwt(claims, issuer.signer, Math.floor(nowMs / 1000));
}

/**
 * Signs the user JWT for a callout grant. Config mode: the configured issuer signs and `aud` names the
 * target account. Operator mode: the target account's key signs (`issuer_account` set when it is a
 * signing key); a scoped key's template replaces permissions and limits.
 */
export function issueUserJwt(grant: Grant, request: AuthRequest, config: AuthCalloutConfig, nowMs = Date.now()): IssuedUser {
  // The shape first, so the account is a name; then which key signs decides whether permissions belong.
  const { exp } = checkGrantShape(grant, nowMs);
  let issuer: UserIssuer;
  if (config.mode.kind === "config") {
    issuer = { signer: config.issuer, audience: grant.account };
  } else {
    const target = config.mode.accounts.get(grant.account);
    if (!target) {
      const known = [...new Set([...config.mode.accounts.values()].map((a) => a.name))].join(", ");
      throw new InvalidGrantError(`invalid grant: no signing key configured for account "${grant.account}" (configured: ${known})`);
    }
    issuer = {
      signer: target.signer,
      issuerAccount: target.signer.publicKey !== target.publicKey ? target.publicKey : undefined,
      audience: target.publicKey,
      scoped: target.scoped,
    };
  }
  checkSigner(grant, issuer.scoped === true);
  enforceClientRestrictions(grant, request);
  return { jwt: signValidated(grant, exp, request.userNkey, request.username, issuer, nowMs), account: grant.account };
}
