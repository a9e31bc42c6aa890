import { createContextKey, injectable, type MessageContext, type NatsMiddleware, type Next } from "@natsflow/core";

import type { AuthCalloutConfig } from "../config/callout-config.js";
import { AuthorizerTimeoutError } from "../errors.js";

/** When the authorizer must be done, and the signal that tells it so. */
export class Deadline {
  // Made on first use: most authorizers never look at the signal, and it costs on every request.
  private controller: AbortController | undefined;
  private expired = false;

  private constructor(readonly at: number) {}

  /**
   * The server waits until the request's `exp` (truncated to whole seconds, so never later than the
   * real limit). Keep a margin for signing and delivery, and never exceed the configured timeout.
   */
  static forRequest(exp: number, now: number, config: Pick<AuthCalloutConfig, "timeoutMs" | "deadlineMarginMs">): Deadline {
    return new Deadline(Math.min(now + config.timeoutMs, exp * 1000 - config.deadlineMarginMs));
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
