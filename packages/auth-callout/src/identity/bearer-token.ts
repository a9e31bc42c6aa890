import { createLocalJWKSet, createRemoteJWKSet, errors, jwtVerify, type JSONWebKeySet, type JWTPayload } from "jose";

import { SetupError } from "@natsflow/core";

import { AuthError } from "../errors.js";
import type { Grant } from "../grant/grant.js";
import { grantTemplate, type TemplateValues } from "../grant/template.js";

export interface BearerTokenOptions {
  /** The `iss` every token must carry. */
  issuer: string;
  /** The `aud` every token must carry (one of them). */
  audience: string | string[];
  /** Where the provider publishes its keys (`…/.well-known/jwks.json`). */
  jwksUrl?: string;
  /** Or fixed keys. */
  jwks?: JSONWebKeySet;
  /** Accepted algorithms. Default: RS256, ES256, EdDSA. */
  algorithms?: string[];
  /** Clock skew allowed on `exp`/`nbf`, in seconds. Default 30. */
  clockToleranceSeconds?: number;
  /** How long fetched keys are used before they are fetched again. Default 10 min. */
  jwksCacheMaxAgeMs?: number;
  /** Least time between two fetches, whatever tokens arrive: a reconnect storm cannot hammer the provider. Default 30 s. */
  jwksCooldownMs?: number;
  /** Give up on a JWKS fetch after this long. Default 1 s, well inside the callout's deadline. */
  jwksTimeoutMs?: number;
}

export type TokenClaims = JWTPayload & Record<string, unknown>;

/**
 * Verifies OAuth/OIDC bearer tokens (JWTs) with `jose`: signature against the provider's JWKS (cached,
 * refetched at most once per cooldown, concurrent fetches shared), issuer, audience and expiry with a
 * small clock skew. Failures are `AuthError`s with a reason fit for the server log.
 */
export class BearerTokenVerifier {
  private readonly keys: ReturnType<typeof createRemoteJWKSet> | ReturnType<typeof createLocalJWKSet>;

  constructor(private readonly options: BearerTokenOptions) {
    if (!options.issuer) throw new SetupError("bearer.issuer", "is required.", "give the provider's issuer URL, the `iss` of its tokens.");
    if (!options.audience || (Array.isArray(options.audience) && options.audience.length === 0)) {
      throw new SetupError("bearer.audience", "is required.", "give the audience your tokens are issued for.");
    }
    if (!!options.jwksUrl === !!options.jwks) throw new SetupError("bearer.jwksUrl", "give exactly one of jwksUrl and jwks.");
    if (options.jwksUrl) {
      let url: URL;
      try {
        url = new URL(options.jwksUrl);
      } catch (e) {
        throw new SetupError("bearer.jwksUrl", "is not a URL.", undefined, { cause: e });
      }
      this.keys = createRemoteJWKSet(url, {
        cacheMaxAge: options.jwksCacheMaxAgeMs ?? 600_000,
        cooldownDuration: options.jwksCooldownMs ?? 30_000,
        timeoutDuration: options.jwksTimeoutMs ?? 1000,
      });
    } else {
      this.keys = createLocalJWKSet(options.jwks as JSONWebKeySet);
    }
  }

  async verify(token: string | undefined): Promise<TokenClaims> {
    if (!token) throw new AuthError("no bearer token presented");
    try {
      const { payload } = await jwtVerify(token, this.keys, {
        issuer: this.options.issuer,
        audience: this.options.audience,
        algorithms: this.options.algorithms ?? ["RS256", "ES256", "EdDSA"],
        clockTolerance: this.options.clockToleranceSeconds ?? 30,
        requiredClaims: ["exp", "sub"],
      });
      return payload as TokenClaims;
    } catch (e) {
      throw new AuthError(reasonFor(e), { cause: e });
    }
  }
}

function reasonFor(e: unknown): string {
  if (e instanceof errors.JWTExpired) return "bearer token expired";
  if (e instanceof errors.JWTClaimValidationFailed) return `bearer token rejected: ${e.claim} ${e.reason === "check_failed" ? "not accepted" : e.reason}`;
  if (e instanceof errors.JWSSignatureVerificationFailed) return "bearer token signature invalid";
  if (e instanceof errors.JWKSNoMatchingKey) return "bearer token signed with an unknown key";
  const jwksFailure = e instanceof errors.JOSEError && e.code === "ERR_JOSE_GENERIC" && /JSON Web Key Set/i.test(e.message);
  if (jwksFailure || e instanceof errors.JWKSTimeout || e instanceof errors.JWKSInvalid || (e instanceof TypeError && /fetch/i.test(e.message))) {
    return "identity provider keys unavailable";
  }
  if (e instanceof errors.JOSEAlgNotAllowed) return "bearer token algorithm not allowed";
  if (e instanceof errors.JWTInvalid || e instanceof errors.JWSInvalid || e instanceof errors.JOSENotSupported) return "bearer token malformed";
  if (e instanceof errors.JOSEError) return `bearer token rejected (${e.code})`;
  return "bearer token could not be verified";
}

/** String claims, for `{placeholders}`: `sub`, `email`, … (nested and non-string claims are left out). */
export function claimValues(claims: TokenClaims): TemplateValues {
  const values: Record<string, string> = {};
  for (const [k, v] of Object.entries(claims)) if (typeof v === "string" || typeof v === "number") values[k] = String(v);
  return values;
}

/**
 * A grant from a verified token: the template rendered with the token's claims (and `extra` values),
 * expiring no later than the token does.
 */
export function grantFromClaims(claims: TokenClaims, template: Grant, extra: TemplateValues = {}, nowMs = Date.now()): Grant {
  const grant = grantTemplate(template).render({ ...claimValues(claims), ...extra }, nowMs);
  const tokenExpiry = typeof claims.exp === "number" ? claims.exp * 1000 : undefined;
  if (tokenExpiry === undefined) return grant;
  const own = grant.expiresAt?.getTime() ?? (grant.expiresInSeconds !== undefined ? nowMs + grant.expiresInSeconds * 1000 : undefined);
  const bounded: Grant = { ...grant, expiresAt: new Date(own === undefined ? tokenExpiry : Math.min(own, tokenExpiry)) };
  delete bounded.expiresInSeconds;
  return bounded;
}
