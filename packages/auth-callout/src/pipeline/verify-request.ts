import type { AuthorizationRequest } from "@nats-io/jwt";
import { injectable, type MessageContext, type NatsMiddleware, type Next } from "@natsflow/core";

import { AuthCalloutConfig } from "../config/callout-config.js";
import { CalloutRequestError } from "../errors.js";
import { checkJwtHeader, decodeJwt, verifyJwt, type DecodedJwt } from "../jwt/jwt.js";
import { hasPublicKeyShape } from "../keys/nkeys.js";
import { AuthRequest, type AuthorizationRequestClaims } from "../request/auth-request.js";
import { Deadline, DEADLINE } from "./deadline.js";
import { AUTH_REQUEST, REPLY_ADDRESS, SEALED_BY } from "./state.js";

export const REQUEST_AUDIENCE = "nats-authorization-request";
export const REQUEST_TYPE = "authorization_request";

const decoder = new TextDecoder("utf-8", { fatal: true });
// A request is a few KB; anything far larger is not from a server.
const MAX_REQUEST_BYTES = 1024 * 1024;
const MAX_BOUND_SERVERS = 256;

function toToken(data: Uint8Array): string {
  if (data.length > MAX_REQUEST_BYTES) throw new CalloutRequestError("request too large");
  try {
    return decoder.decode(data);
  } catch {
    throw new CalloutRequestError("request is not UTF-8 text");
  }
}

/** Records where a denial can be sent, from claims that are parsed but not yet trusted. */
function addressOf(decoded: DecodedJwt<Partial<AuthorizationRequest>>): { userNkey: string; serverId: string } | undefined {
  const nats = decoded.claims.nats;
  const userNkey = nats?.user_nkey;
  const serverId = nats?.server_id?.id;
  // Shape only: an answer to a forged address helps nobody (the server checks both), and the real ones
  // are signed; decoding every fresh user key's checksum would cost more than the rest of this step.
  if (hasPublicKeyShape(userNkey, "user") && hasPublicKeyShape(serverId, "server")) return { userNkey, serverId };
  return undefined;
}

export function noteReplyAddress(ctx: MessageContext, data: Uint8Array): void {
  try {
    const address = addressOf(decodeJwt(toToken(data)));
    if (address) ctx.set(REPLY_ADDRESS, address);
  } catch {
    // Unreadable: nothing to address, so the responder drops it.
  }
}

/**
 * Step 2: decode and verify the `authorization_request` JWT and hand the authorizer a typed
 * `AuthRequest`. Signed by the server key it names, for us, meant as a request, and still current.
 */
@injectable()
export class RequestVerifier implements NatsMiddleware {
  private warnedSubSecond = false;
  /**
   * Server xkeys (curve keys) bound to the server key that signed a fully verified request carrying
   * them. A box that opens under our xkey and such a key was sealed by that server — no one else holds
   * its curve private key — so the box authenticates the request and its Ed25519 signature (a third
   * of the service's CPU per request) need not be checked again. A server that restarts has new keys.
   */
  private readonly serverByXkey = new Map<string, string>();

  constructor(private readonly config: AuthCalloutConfig) {}

  async use(ctx: MessageContext, next: Next): Promise<void> {
    const decoded = decodeJwt<Partial<AuthorizationRequest>>(toToken(ctx.payload as Uint8Array));
    const address = addressOf(decoded);
    if (address) ctx.set(REPLY_ADDRESS, address);
    const { claims } = decoded;
    const nats = claims.nats;
    if (nats === null || typeof nats !== "object") throw new CalloutRequestError("claims have no nats section");
    // The signature check decodes `iss` in full (once per server key, then cached).
    if (!hasPublicKeyShape(claims.iss, "server")) throw new CalloutRequestError("issuer is not a server key");
    const sealedBy = ctx.get(SEALED_BY);
    const boxVouches = sealedBy !== undefined && this.config.requestSignatures === "once-per-server-xkey" && this.serverByXkey.get(sealedBy) === claims.iss;
    if (boxVouches) checkJwtHeader(decoded);
    else verifyJwt(decoded, "server");
    if (nats.server_id?.id !== claims.iss) throw new CalloutRequestError("issuer is not the server_id in the request");
    if (claims.aud !== REQUEST_AUDIENCE) throw new CalloutRequestError(`audience is not ${REQUEST_AUDIENCE}`);
    if (nats.type !== REQUEST_TYPE) throw new CalloutRequestError(`type is not ${REQUEST_TYPE}`);
    if (!address) throw new CalloutRequestError("user_nkey is not a user key");
    const now = Date.now();
    if (typeof claims.exp !== "number") throw new CalloutRequestError("request has no expiry");
    // `exp` is truncated to the second: the server may still be waiting for up to 999 ms after it.
    if ((claims.exp + 1) * 1000 <= now) throw new CalloutRequestError("request expired");
    if (typeof claims.nbf === "number" && claims.nbf * 1000 > now) throw new CalloutRequestError("request not yet valid");
    if (claims.sub !== this.config.audienceKey) {
      throw new CalloutRequestError(
        this.config.mode.kind === "config"
          ? "request is for another issuer (auth_callout.issuer differs from issuerSeed's public key)"
          : "request is for another callout account (set operator.calloutAccount)",
      );
    }
    if (sealedBy !== undefined && nats.server_id.xkey !== sealedBy) {
      throw new CalloutRequestError("the Nats-Server-Xkey header does not match server_id.xkey");
    }
    if (sealedBy !== undefined && !boxVouches) this.bind(sealedBy, claims.iss);
    if (claims.iat === claims.exp && this.config.serverTimeoutMs === undefined && !this.warnedSubSecond) {
      this.warnedSubSecond = true;
      ctx.logger.warn("the server's authorization timeout is under 1 s, so requests cannot tell it exactly: 1 s is assumed; set serverTimeoutMs to the server's timeout in ms");
    }
    const deadline = Deadline.forRequest(claims as { exp: number; iat?: number }, ctx.receivedAt, this.config);
    ctx.set(DEADLINE, deadline);
    const request = new AuthRequest(claims as AuthorizationRequestClaims, deadline);
    ctx.set(AUTH_REQUEST, request);
    ctx.payload = request;
    await next();
  }

  private bind(xkey: string, server: string): void {
    // Bounded: every server restart brings a new pair.
    if (this.serverByXkey.size >= MAX_BOUND_SERVERS) this.serverByXkey.delete(this.serverByXkey.keys().next().value as string);
    this.serverByXkey.set(xkey, server);
  }
}
