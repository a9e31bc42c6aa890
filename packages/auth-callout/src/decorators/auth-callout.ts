import {
  addHandler,
  defineController,
  injectable,
  SetupError,
  type DependencyContainer,
  type Middleware,
} from "@natsflow/core";

import { AUTH_CALLOUT_CONFIG } from "../config/callout-config.js";
import type { Grant } from "../grant/grant.js";
import { BruteForceGuard } from "../pipeline/brute-force.js";
import { DeadlineGuard } from "../pipeline/deadline.js";
import { XkeyOpener } from "../pipeline/open-xkey.js";
import { CalloutResponder } from "../pipeline/respond.js";
import { RequestVerifier } from "../pipeline/verify-request.js";
import type { AuthRequest } from "../request/auth-request.js";

/** The subject nats-server publishes authorization requests on, inside the callout account. */
export const AUTH_CALLOUT_SUBJECT = "$SYS.REQ.USER.AUTH";
export const DEFAULT_AUTH_QUEUE = "natsflow-auth-callout";
export const DEFAULT_AUTH_CONCURRENCY = 256;

/** What an `@AuthCallout()` class implements: admit with a `Grant`, refuse by throwing `AuthError`. */
export interface Authorizer {
  authorize(request: AuthRequest): Grant | Promise<Grant>;
}

export interface AuthCalloutDecoratorOptions {
  /** Queue group shared by every instance of the service. Default "natsflow-auth-callout". */
  queue?: string;
  /** Requests authorized at once by one instance; more wait in arrival order. Default 256. */
  concurrency?: number;
  /**
   * Requests allowed to wait beyond `concurrency`. Past it a request is refused at once — a signed
   * "service busy" error, or dropped with `overflow: "drop"` — rather than queueing past the server's
   * timeout. Default 1024.
   */
  maxPending?: number;
  /** What happens to a request past `maxPending`: "busy" (default, a signed error) or "drop" (logged, unanswered). */
  overflow?: "busy" | "drop";
}

export const DEFAULT_AUTH_MAX_PENDING = 1024;

/** `overflow: "drop"`: leave the request unanswered (the server refuses the client at its timeout). */
const dropOverflow: Middleware = async (ctx) => {
  ctx.logger.warn({ decision: "drop", reason: "service busy" }, "auth callout: request dropped, too many waiting");
};

function requireConfig(container: DependencyContainer): void {
  if (!container.isRegistered(AUTH_CALLOUT_CONFIG, true)) {
    throw new SetupError(
      "providers",
      "an @AuthCallout() class needs the callout keys, and none are registered.",
      "add authCalloutConfig({ issuerSeed, xkeySeed }) to NatsApp.create({ providers }).",
    );
  }
}

/**
 * Makes a class the auth callout handler: injectable (constructor dependencies resolved by type),
 * subscribed to `$SYS.REQ.USER.AUTH` in a queue group, with `authorize` wrapped in the callout
 * pipeline — respond ∘ unseal ∘ verify ∘ brute-force guard ∘ deadline — through the same dispatch path as any
 * `@Subscribe` handler. `@Use()` middleware runs inside the pipeline: it sees the verified
 * `AuthRequest` as `ctx.payload`, within the deadline, and may throw `AuthError`.
 */
export function AuthCallout(options: AuthCalloutDecoratorOptions = {}) {
  return <T extends abstract new (...args: never[]) => Authorizer>(target: T): void => {
    if (typeof (target.prototype as Partial<Authorizer>).authorize !== "function") {
      throw new SetupError(`@AuthCallout() on ${target.name}`, "the class has no authorize(request) method.", "implement Authorizer.");
    }
    injectable()(target as unknown as new (...args: never[]) => Authorizer);
    defineController(target, { scope: "singleton" });
    addHandler(target, {
      method: "authorize",
      subject: AUTH_CALLOUT_SUBJECT,
      // nats-server sends here: a router's prefix would leave the callout silently unanswered.
      fixedSubject: true,
      options: {
        queue: options.queue ?? DEFAULT_AUTH_QUEUE,
        concurrency: options.concurrency ?? DEFAULT_AUTH_CONCURRENCY,
        maxPending: options.maxPending ?? DEFAULT_AUTH_MAX_PENDING,
        // The server's requests carry none, and the server reads no reply header: an id would be cost only.
        correlation: false,
      },
      pipeline: ({ container }) => {
        requireConfig(container);
        // Off means absent: not a step that does nothing on every request.
        const guard = container.resolve(AUTH_CALLOUT_CONFIG).bruteForce ? [BruteForceGuard] : [];
        // One per app, with one store: what `app.container.resolve(BruteForceGuard)` gives is the pipeline's.
        if (guard.length > 0 && !container.isRegistered(BruteForceGuard)) container.registerSingleton(BruteForceGuard);
        return [CalloutResponder, XkeyOpener, RequestVerifier, ...guard, DeadlineGuard];
      },
      // Refusing must stay cheap and still never grant: answer without the authorizer, or drop.
      overflow: () => (options.overflow === "drop" ? [dropOverflow] : [CalloutResponder, XkeyOpener, RequestVerifier]),
    });
  };
}
