import type { AuthorizationResponse } from "@nats-io/jwt";
import { injectable, OverloadedError, type MessageContext, type NatsMiddleware, type Next } from "@natsflow/core";

import { AuthCalloutConfig } from "../config/callout-config.js";
import { AuthError, AuthorizerTimeoutError, CalloutRequestError, sanitizeReason } from "../errors.js";
import type { Grant } from "../grant/grant.js";
import { issueUserJwt } from "../grant/user-claims.js";
import { encodeJwt } from "../jwt/jwt.js";
import type { AuthRequest } from "../request/auth-request.js";
import { AUTH_REQUEST, REPLY_ADDRESS, SEALED_BY, type ReplyAddress } from "./state.js";

export const RESPONSE_TYPE = "authorization_response";
const INTERNAL_REASON = "internal authorization error";
const TIMEOUT_REASON = "authorization timed out";

interface Denial {
  reason: string;
  level: "info" | "warn" | "error";
}

/** Turns any failure into the reason the server sees; only `AuthError` text is the user's own. */
function denialFor(error: unknown): Denial {
  if (error instanceof AuthError) return { reason: error.message, level: "info" };
  if (error instanceof CalloutRequestError) return { reason: `invalid authorization request: ${error.message}`, level: "warn" };
  if (error instanceof AuthorizerTimeoutError) return { reason: TIMEOUT_REASON, level: "warn" };
  if (error instanceof OverloadedError) return { reason: "service busy", level: "warn" };
  return { reason: INTERNAL_REASON, level: "error" };
}

/** Who asked, for the decision log. Never the password, token, JWT or signature. */
function describe(request: AuthRequest | undefined): Record<string, unknown> {
  if (!request) return {};
  const client = request.clientInfo;
  return {
    user: request.username,
    client: { host: client.host, id: client.id, type: client.type, kind: client.kind, name: request.connectOpts.name },
    server: request.server.id,
  };
}

/**
 * The outermost step, where the answer is made: sign the user JWT for a grant or an error for
 * anything else, wrap it in an `authorization_response` addressed to the request's user nkey and
 * server, seal it when the request was sealed, and log the decision. Nothing escapes: a request
 * that cannot be addressed (unreadable) is dropped and logged, and the server then refuses the client.
 */
@injectable()
export class CalloutResponder implements NatsMiddleware {
  constructor(private readonly config: AuthCalloutConfig) {}

  async use(ctx: MessageContext, next: Next): Promise<void> {
    const started = performance.now();
    let granted: { jwt: string; account: string } | undefined;
    let failure: unknown;
    try {
      await next();
      const request = ctx.get(AUTH_REQUEST);
      if (!request) throw new Error("no verified request reached the responder");
      granted = issueUserJwt(ctx.result as Grant, request, this.config);
    } catch (error) {
      failure = error;
    }

    const address = ctx.get(REPLY_ADDRESS);
    const log = { ...describe(ctx.get(AUTH_REQUEST)), ms: Math.round((performance.now() - started) * 100) / 100 };
    if (granted && address) {
      ctx.response = { data: this.answer(ctx, address, { jwt: granted.jwt }) };
      ctx.logger.info({ ...log, decision: "grant", account: granted.account }, "auth callout: granted");
      return;
    }
    const denial = denialFor(failure);
    // Stacks only for the unexpected; an AuthError or a bad request is an expected outcome.
    const detail = denial.level === "error" ? { err: failure } : { detail: (failure as Error | undefined)?.message };
    if (!address) {
      ctx.logger.warn({ ...log, ...detail, decision: "drop", reason: denial.reason }, "auth callout: unreadable request dropped");
      return;
    }
    ctx.response = { data: this.answer(ctx, address, { error: sanitizeReason(denial.reason) }) };
    ctx.logger[denial.level]({ ...log, ...detail, decision: "deny", reason: denial.reason }, "auth callout: denied");
  }

  private answer(ctx: MessageContext, address: ReplyAddress, body: Pick<AuthorizationResponse, "jwt" | "error">): Uint8Array {
    const token = encodeJwt(
      {
        iss: this.config.issuer.publicKey,
        sub: address.userNkey,
        aud: address.serverId,
        nats: { ...body, ...(this.config.responseIssuerAccount ? { issuer_account: this.config.responseIssuerAccount } : {}), type: RESPONSE_TYPE, version: 2 },
      },
      this.config.issuer,
    );
    const data = Buffer.from(token);
    const sealedBy = ctx.get(SEALED_BY);
    return sealedBy !== undefined && this.config.xkey ? this.config.xkey.seal(data, sealedBy) : data;
  }
}
