import type { AuthorizationResponse } from "@nats-io/jwt";
import { Broker, injectable, Metrics, OverloadedError, type Counter, type Histogram, type MessageContext, type NatsMiddleware, type Next } from "@natsflow/core";

import { AuthCalloutConfig } from "../config/callout-config.js";
import { AuthError, AuthorizerTimeoutError, CalloutRequestError, GrantExpiredError, InvalidGrantError, LoginLockedError, sanitizeReason } from "../errors.js";
import type { Grant } from "../grant/grant.js";
import { issueUserJwt } from "../grant/user-claims.js";
import { encodeJwt } from "../jwt/jwt.js";
import type { AuthRequest } from "../request/auth-request.js";
import { AUTH_REQUEST, REPLY_ADDRESS, SEALED_BY, type ReplyAddress } from "./state.js";

export const RESPONSE_TYPE = "authorization_response";
const INTERNAL_REASON = "internal authorization error";
const TIMEOUT_REASON = "authorization timed out";

/** A bounded set of reasons, for metrics labels and dashboards; `reason` itself is free text. */
export type ReasonKind = "granted" | "denied" | "locked" | "invalid_request" | "timeout" | "busy" | "invalid_grant" | "expired_grant" | "internal" | "unreadable";

interface Denial {
  reason: string;
  kind: ReasonKind;
  level: "info" | "warn" | "error";
}

/** Turns any failure into the reason the server sees; only `AuthError` text is the user's own. */
function denialFor(error: unknown): Denial {
  if (error instanceof AuthError) return { reason: error.message, kind: "denied", level: "info" };
  if (error instanceof LoginLockedError) return { reason: error.message, kind: "locked", level: "info" };
  if (error instanceof CalloutRequestError) return { reason: `invalid authorization request: ${error.message}`, kind: "invalid_request", level: "warn" };
  if (error instanceof AuthorizerTimeoutError) return { reason: TIMEOUT_REASON, kind: "timeout", level: "warn" };
  if (error instanceof OverloadedError) return { reason: "service busy", kind: "busy", level: "warn" };
  // Our own fixed text, so the server's log says why instead of "internal authorization error".
  if (error instanceof GrantExpiredError) return { reason: error.message, kind: "expired_grant", level: "warn" };
  // Our own text naming the key at fault (a value only as a quoted, shortened subject): the fix, in the server's log too.
  if (error instanceof InvalidGrantError) return { reason: error.message, kind: "invalid_grant", level: "warn" };
  return { reason: INTERNAL_REASON, kind: "internal", level: "error" };
}

/** One decision, as logged, counted and (optionally) published for audit. Never a secret. */
export interface CalloutDecision {
  decision: "grant" | "deny" | "drop";
  reasonKind: ReasonKind;
  reason?: string;
  user?: string | undefined;
  account?: string;
  client?: Record<string, unknown>;
  server?: string;
  ms: number;
}

/** Who asked, for the decision log. Never the password, token, JWT or signature. */
function describe(request: AuthRequest | undefined): Pick<CalloutDecision, "user" | "client" | "server"> {
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
  private readonly decisions: Counter<"decision" | "reason">;
  private readonly latency: Histogram<"decision">;
  // Label children bound on first use: looking labels up costs more than counting.
  private readonly counted = new Map<string, { inc(): void }>();
  private readonly timed = new Map<string, { observe(v: number): void }>();

  constructor(
    private readonly config: AuthCalloutConfig,
    private readonly broker: Broker,
    metrics: Metrics,
  ) {
    this.decisions = metrics.counter("natsflow_auth_decisions_total", "auth callout decisions, by decision (grant, deny, drop) and reason kind", ["decision", "reason"]);
    this.latency = metrics.histogram("natsflow_auth_decision_seconds", "time from a request's arrival to its answer", ["decision"], [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2]);
  }

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
    const who = describe(ctx.get(AUTH_REQUEST));
    const ms = () => Math.round((performance.now() - started) * 100) / 100;
    if (granted && address) {
      ctx.response = { data: this.answer(ctx, address, { jwt: granted.jwt }) };
      this.record(ctx, { ...who, decision: "grant", reasonKind: "granted", account: granted.account, ms: ms() }, "info", "auth callout: granted");
      return;
    }
    const denial = denialFor(failure);
    // Stacks only for the unexpected; an AuthError or a bad request is an expected outcome.
    const detail = denial.level === "error" ? { err: failure } : { detail: (failure as Error | undefined)?.message };
    if (!address) {
      this.record(ctx, { ...who, decision: "drop", reasonKind: "unreadable", reason: denial.reason, ms: ms() }, "warn", "auth callout: unreadable request dropped", detail);
      return;
    }
    ctx.response = { data: this.answer(ctx, address, { error: sanitizeReason(denial.reason) }) };
    this.record(ctx, { ...who, decision: "deny", reasonKind: denial.kind, reason: denial.reason, ms: ms() }, denial.level, "auth callout: denied", detail);
  }

  /** The one decision line per request, the metrics, and the optional audit event. */
  private record(ctx: MessageContext, d: CalloutDecision, level: "info" | "warn" | "error", msg: string, detail: object = {}): void {
    ctx.logger[level]({ ...d, ...detail }, msg);
    // The outcome only: who asked and with what stays out of spans.
    ctx.trace?.span.setAttributes({ "natsflow.auth.decision": d.decision, "natsflow.auth.reason_kind": d.reasonKind, ...(d.account ? { "natsflow.auth.account": d.account } : {}) });
    const key = `${d.decision}/${d.reasonKind}`;
    let counter = this.counted.get(key);
    if (!counter) this.counted.set(key, (counter = this.decisions.labels(d.decision, d.reasonKind)));
    counter.inc();
    let timer = this.timed.get(d.decision);
    if (!timer) this.timed.set(d.decision, (timer = this.latency.labels(d.decision)));
    timer.observe(d.ms / 1000);
    const subject = this.config.auditSubject;
    if (subject) {
      try {
        this.broker.publish(subject, { time: new Date().toISOString(), ...d });
      } catch (e) {
        ctx.logger.warn({ err: e }, "auth callout: audit event not published");
      }
    }
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
