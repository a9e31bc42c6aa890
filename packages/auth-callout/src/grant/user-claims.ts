import type { User } from "@nats-io/jwt";

import type { JwtClaims } from "../jwt/jwt.js";
import type { AuthRequest } from "../request/auth-request.js";
import { validateGrant, type Grant } from "./grant.js";

/** -1 is the JWT encoding of "no limit". */
const UNLIMITED = -1;

/**
 * The user JWT's claims for a grant in config mode: issued to the request's user nkey, `aud` naming
 * the target account, signed later by the configured issuer.
 */
export function userClaims(grant: Grant, request: AuthRequest, issuer: string, nowMs = Date.now()): JwtClaims<Partial<User>> {
  const { exp } = validateGrant(grant, nowMs);
  const p = grant.permissions ?? {};
  const l = grant.limits ?? {};
  const nats: Partial<User> = {
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
    ...(grant.tags ? { tags: grant.tags } : {}),
    type: "user",
    version: 2,
  };
  return {
    iss: issuer,
    sub: request.userNkey,
    aud: grant.account,
    name: grant.name ?? request.username ?? "",
    ...(exp !== undefined ? { exp } : {}),
    nats,
  };
}
