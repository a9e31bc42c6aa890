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

/** One authorization racing its deadline. Once settled it keeps nothing but its time. */
class Pending {
  settled = false;

  constructor(
    readonly at: number,
    private deadline: Deadline | undefined,
    private reject: ((error: unknown) => void) | undefined,
    private readonly budgetMs: number,
  ) {}

  /** The first outcome wins; a late authorizer's result, failure included, is dropped. */
  settle(): boolean {
    if (this.settled) return false;
    this.settled = true;
    this.deadline = undefined;
    this.reject = undefined;
    return true;
  }

  expire(): void {
    const { deadline, reject } = this;
    if (!this.settle()) return;
    deadline?.expire();
    reject?.(new AuthorizerTimeoutError(`authorizer took longer than ${Math.round(this.budgetMs)} ms`));
  }
}

/**
 * One timer for every authorization in flight, instead of a timer each: deadlines come in arrival
 * order (the budget is the same for every request), so the queue is sorted by appending, and the
 * timer is re-armed only for the oldest request still running — about once per budget under load.
 */
class DeadlineTimers {
  private queue: Pending[] = [];
  private head = 0;
  private timer: NodeJS.Timeout | undefined;
  private armedFor = Number.POSITIVE_INFINITY;

  add(entry: Pending): void {
    // Settled ones at the front are dropped here too: the timer may not fire for a while.
    this.dropSettled();
    let i = this.queue.length;
    while (i > this.head && (this.queue[i - 1] as Pending).at > entry.at) i--;
    this.queue.splice(i, 0, entry);
    if (entry.at < this.armedFor) this.arm(entry.at);
  }

  private dropSettled(now = Number.NEGATIVE_INFINITY): void {
    for (let e = this.queue[this.head]; e && (e.settled || e.at <= now); e = this.queue[this.head]) {
      this.head++;
      if (!e.settled) e.expire();
    }
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }

  private arm(at: number): void {
    clearTimeout(this.timer);
    this.armedFor = at;
    // Never keeps a stopping process alive: the connection does that while there is work.
    this.timer = setTimeout(this.fire, Math.max(0, at - Date.now())).unref();
  }

  private readonly fire = (): void => {
    this.timer = undefined;
    this.armedFor = Number.POSITIVE_INFINITY;
    // Expired ones are refused; settled ones at the front need no timer.
    this.dropSettled(Date.now());
    const next = this.queue[this.head];
    if (next) this.arm(next.at);
  };
}

/** Step 3: the authorizer races the deadline; when it loses, the request is denied in time. */
@injectable()
export class DeadlineGuard implements NatsMiddleware {
  private readonly timers = new DeadlineTimers();

  use(ctx: MessageContext, next: Next): Promise<void> {
    const deadline = ctx.get(DEADLINE);
    if (!deadline) throw new Error("RequestVerifier must run before DeadlineGuard");
    const budget = deadline.at - Date.now();
    if (budget <= 0) throw new AuthorizerTimeoutError("no time left before the server's deadline");
    const work = next();
    return new Promise<void>((resolve, reject) => {
      const entry = new Pending(deadline.at, deadline, reject, budget);
      this.timers.add(entry);
      work.then(
        () => entry.settle() && resolve(),
        (error: unknown) => entry.settle() && reject(error),
      );
    });
  }
}
