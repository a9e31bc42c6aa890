import { createContextKey, injectable, type MessageContext, type NatsMiddleware, type Next } from "@natsflow/core";

import type { AuthCalloutConfig } from "../config/callout-config.js";
import { AuthorizerTimeoutError } from "../errors.js";

type DeadlineSettings = Pick<AuthCalloutConfig, "timeoutMs" | "deadlineMarginMs" | "serverTimeoutMs">;

/**
 * How long the server waits for an answer: the configured `serverTimeoutMs`, else `exp − iat`. A
 * sub-second server timeout makes that 0 or 1 (truncation), so 1 s is assumed then; such servers
 * should set `serverTimeoutMs`.
 */
function serverWaitMs(claims: { exp: number; iat?: number | undefined }, config: DeadlineSettings): number {
  if (config.serverTimeoutMs !== undefined) return config.serverTimeoutMs;
  const seconds = typeof claims.iat === "number" ? claims.exp - claims.iat : 1;
  return Math.max(1, seconds) * 1000;
}

/** When the authorizer must be done, and the signal that tells it so. */
export class Deadline {
  // Made on first use: most authorizers never look at the signal, and it costs on every request.
  private controller: AbortController | undefined;
  private expired = false;

  private constructor(readonly at: number) {}

  /**
   * The server starts waiting when it sends the request, for its auth timeout. `exp − iat` gives that
   * wait in whole seconds on the server's own clock (both are truncated alike, so it is exact for
   * whole-second timeouts, and the absolute `exp` — up to 999 ms earlier than the real limit — is
   * never used). Counted from the request's arrival here, less a margin for signing and delivery,
   * and never longer than the configured timeout.
   */
  static forRequest(claims: { exp: number; iat?: number | undefined }, receivedAt: number, config: DeadlineSettings): Deadline {
    return new Deadline(receivedAt + Math.min(config.timeoutMs, serverWaitMs(claims, config) - config.deadlineMarginMs));
  }

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.expired) this.abort();
    }
    return this.controller.signal;
  }

  expire(): void {
    this.expired = true;
    if (this.controller) this.abort();
  }

  private abort(): void {
    this.controller?.abort(new AuthorizerTimeoutError("authorization deadline passed"));
  }
}

export const DEADLINE = createContextKey<Deadline>("auth-callout.deadline");

/** Step 3: the authorizer races the deadline; when it loses, the request is denied in time. */
@injectable()
export class DeadlineGuard implements NatsMiddleware {
  async use(ctx: MessageContext, next: Next): Promise<void> {
    const deadline = ctx.get(DEADLINE);
    if (!deadline) throw new Error("RequestVerifier must run before DeadlineGuard");
    const budget = deadline.at - Date.now();
    if (budget <= 0) throw new AuthorizerTimeoutError("no time left before the server's deadline");
    let timer: NodeJS.Timeout | undefined;
    const work = next();
    try {
      await Promise.race([
        work,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            deadline.expire();
            reject(new AuthorizerTimeoutError(`authorizer took longer than ${Math.round(budget)} ms`));
          }, budget);
        }),
      ]);
    } finally {
      clearTimeout(timer);
      // A late authorizer is ignored; its eventual failure must not become an unhandled rejection.
      work.catch(() => undefined);
    }
  }
}
