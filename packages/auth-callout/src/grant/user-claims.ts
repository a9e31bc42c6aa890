import type { User } from "@nats-io/jwt";

import type { AuthCalloutConfig } from "../config/callout-config.js";
import { InvalidGrantError } from "../errors.js";
import { encodeJwt, type JwtClaims } from "../jwt/jwt.js";
import type { Ed25519Signer } from "../keys/ed25519.js";
import type { AuthRequest } from "../request/auth-request.js";
import { validateGrant, type Grant } from "./grant.js";

/** -1 is the JWT encoding of "no limit". */
const UNLIMITED = -1;

function permissionsAndLimits(grant: Grant): Partial<User> {
  const p = grant.permissions ?? {};
  const l = grant.limits ?? {};
  return {
    pub: { ...(p.pub?.allow ? { allow: p.pub.allow } : {}), ...(p.pub?.deny ? { deny: p.pub.deny } : {}) },
    sub: { ...(p.sub?.allow ? { allow: p.sub.allow } : {}), ...(p.sub?.deny ? { deny: p.sub.deny } : {}) },
    ...(p.resp ? { resp: { max: p.resp.max ?? 1, ttl: p.resp.ttl ?? 0 } } : {}),
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

/**
 * Signs the user JWT for a grant. Config mode: the configured issuer signs and `aud` names the target
 * account. Operator mode: the target account's key signs (`issuer_account` set when it is a signing
 * key); a scoped key's template replaces permissions and limits, so the grant must not carry them.
 */
export function issueUserJwt(grant: Grant, request: AuthRequest, config: AuthCalloutConfig, nowMs = Date.now()): IssuedUser {
  const { exp } = validateGrant(grant, nowMs);
  const base = {
    sub: request.userNkey,
    name: grant.name ?? request.username ?? "",
    ...(exp !== undefined ? { exp } : {}),
  };
  const tags = grant.tags ? { tags: grant.tags } : {};
  let signer: Ed25519Signer;
  let claims: JwtClaims<Partial<User>>;
  if (config.mode.kind === "config") {
    signer = config.issuer;
    claims = { ...base, iss: signer.publicKey, aud: grant.account, nats: { ...permissionsAndLimits(grant), ...tags, type: "user", version: 2 } };
  } else {
    const target = config.mode.accounts.get(grant.account);
    if (!target) {
      const known = [...new Set([...config.mode.accounts.values()].map((a) => a.name))].join(", ");
      throw new InvalidGrantError(`invalid grant: no signing key configured for account "${grant.account}" (configured: ${known})`);
    }
    if (target.scoped && (grant.permissions || grant.limits || grant.allowedConnectionTypes)) {
      throw new InvalidGrantError(
        `invalid grant: account "${target.name}" signs with a scoped key, whose template sets permissions and limits; leave them out of the grant`,
      );
    }
    signer = target.signer;
    const issuerAccount = signer.publicKey !== target.publicKey ? { issuer_account: target.publicKey } : {};
    const body = target.scoped ? {} : permissionsAndLimits(grant);
    claims = { ...base, iss: signer.publicKey, aud: target.publicKey, nats: { ...body, ...tags, ...issuerAccount, type: "user", version: 2 } };
  }
  return { jwt: encodeJwt(claims, signer, Math.floor(nowMs / 1000)), account: grant.account };
}
