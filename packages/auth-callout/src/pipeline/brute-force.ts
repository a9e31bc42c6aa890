import { createHmac } from "node:crypto";

import { Broker, inject, injectable, LOGGER, Metrics, type Counter, type Logger, type MessageContext, type NatsMiddleware, type Next } from "@natsflow/core";

import { AuthCalloutConfig } from "../config/callout-config.js";
import type { BruteForceSettings, FailureBudget } from "../config/brute-force.js";
import { AuthError, LoginLockedError } from "../errors.js";
import type { AuthRequest } from "../request/auth-request.js";
import { addressKey } from "./client-address.js";
import { isLocked, retryAt, withFailure } from "./failure-policy.js";
import { KvFailureStore, MemoryFailureStore, type FailureStore } from "./failure-store.js";
import { AUTH_REQUEST } from "./state.js";

type KeyKind = "user" | "address";

/** Who a login is counted as: the username it gave (password logins) and the client's address. */
export interface CountedLogin {
  readonly user?: string | undefined;
  readonly host?: string | undefined;
}

interface CountedKey {
  readonly kind: KeyKind;
  /** What is counted: the canonical username, or the address (an IPv6 one as its network). */
  readonly name: string;
  /** `u.`/`a.` and the value; for a shared bucket a keyed hash of it, a valid KV key that does not show it. */
  readonly id: string;
  readonly budget: FailureBudget;
}

const forget = () => undefined;
const MAX_PLAIN_KEY = 64;

/**
 * Between the verifier and the deadline: refuses a user or an address with too many recent
 * failures before the authorizer — and so any password hash — runs, and counts the authorizer's
 * `AuthError` denials. Only password logins (by canonical username and address) and token logins
 * (by address; a token is never a key) are counted. Timeouts, overload and internal errors are not
 * failures. One per app (`app.container.resolve(BruteForceGuard)`), so failures found elsewhere can
 * be counted with `recordFailure`.
 */
@injectable()
export class BruteForceGuard implements NatsMiddleware {
  private readonly settings: BruteForceSettings;
  private readonly store: FailureStore;
  private readonly lockouts: Counter<"key">;
  private readonly keyId: (prefix: string, value: string) => string;
  private readonly logger: Logger;

  constructor(
    private readonly config: AuthCalloutConfig,
    private readonly broker: Broker,
    metrics: Metrics,
    @inject(LOGGER) logger: Logger,
  ) {
    if (!config.bruteForce) throw new Error("BruteForceGuard runs only with bruteForce settings");
    const settings = (this.settings = config.bruteForce);
    const maxFailures = Math.max(settings.perUser?.failures ?? 0, settings.perAddress?.failures ?? 0);
    this.store = settings.store === "kv"
      ? new KvFailureStore({ bucket: settings.bucket, replicas: settings.replicas, timing: settings, broker, logger, maxFailures })
      : new MemoryFailureStore(settings);
    // Hashing costs ~2 µs a key; only a bucket other processes read needs it, and a long name, which
    // must not cost its length in memory for the whole window.
    const hashed = (prefix: string, value: string) => `${prefix}.${createHmac("sha256", settings.keySecret).update(value).digest("base64url").slice(0, 32)}`;
    this.keyId = settings.store === "kv" ? hashed : (prefix, value) => (value.length <= MAX_PLAIN_KEY ? `${prefix}:${value}` : hashed(prefix, value));
    this.logger = logger;
    this.lockouts = metrics.counter("natsflow_auth_lockouts_total", "brute-force lockouts started by this instance, by key kind (user, address)", ["key"]);
  }

  use(ctx: MessageContext, next: Next): Promise<void> {
    const request = ctx.get(AUTH_REQUEST);
    const keys = request && this.countedKeys(request);
    // Not a password or token login: straight through, not even an extra promise.
    return keys ? this.guard(ctx, request, keys, next) : next();
  }

  /**
   * Counts one failed login, as the pipeline does when the authorizer denies one: under the
   * canonical username and the client's address (IPv6: its network), with the lockout it may start
   * announced. For failures found outside the callout.
   */
  recordFailure(login: CountedLogin): void {
    this.fail(this.logger, login.host, this.keysOf(login));
  }

  private async guard(ctx: MessageContext, request: AuthRequest, keys: CountedKey[], next: Next): Promise<void> {
    this.refuseIfBlocked(ctx, request, keys);
    try {
      await next();
    } catch (e) {
      if (e instanceof AuthError) this.fail(ctx.logger, request.clientInfo.host, keys);
      throw e;
    }
    const user = keys[0]?.kind === "user" ? keys[0] : undefined;
    // Success clears the user's count; an address's failures stand, they may be someone else's.
    if (user && this.store.get(user.id)) this.store.change(user.id, forget);
  }

  private countedKeys(request: AuthRequest): CountedKey[] | undefined {
    const password = request.password !== undefined && request.username !== undefined;
    if (!password && request.token === undefined) return undefined;
    const keys = this.keysOf({ user: password ? request.username : undefined, host: request.clientInfo.host });
    return keys.length > 0 ? keys : undefined;
  }

  private keysOf(login: CountedLogin): CountedKey[] {
    const { perUser, perAddress, canonicalUser, ipv6Prefix } = this.settings;
    const keys: CountedKey[] = [];
    if (login.user !== undefined && perUser) {
      const name = canonicalUser(login.user);
      if (typeof name !== "string") throw new TypeError(`bruteForce.canonicalUser returned ${typeof name}, not a string`);
      keys.push({ kind: "user", name, id: this.keyId("u", name), budget: perUser });
    }
    if (login.host && perAddress) {
      const name = addressKey(login.host, ipv6Prefix);
      keys.push({ kind: "address", name, id: this.keyId("a", name), budget: perAddress });
    }
    return keys;
  }

  /**
   * Refuses at once rather than sleeping out the delay: a sleep would hold a concurrency slot and
   * could outlast the server's timeout. An attempt during a delay counts as a failure (its password
   * is never checked) of the delayed key and of the address it came from, so hammering runs into the
   * lockout; a user is not charged for its address's delay. Attempts during a lockout do not extend it.
   */
  private refuseIfBlocked(ctx: MessageContext, request: AuthRequest, keys: CountedKey[]): void {
    const now = Date.now();
    let charged: CountedKey[] | undefined;
    for (const key of keys) {
      const record = this.store.get(key.id);
      if (isLocked(record, now)) throw new LoginLockedError();
      if (retryAt(record, key.budget, this.settings, now) > now) (charged ??= []).push(key);
    }
    if (!charged) return;
    this.fail(ctx.logger, request.clientInfo.host, keys.filter((k) => k.kind === "address" || charged.includes(k)));
    throw new LoginLockedError();
  }

  private fail(logger: Logger, host: string | undefined, keys: CountedKey[]): void {
    const now = Date.now();
    // A shared store may announce later, when its write lands: take what the event needs now.
    for (const key of keys) {
      this.store.change(key.id, (r) => withFailure(r, key.budget, this.settings, now), (r) => this.lockedOut(logger, key, host, r.lockedUntil));
    }
  }

  /** Its own metric, a warning and an audit event: who (never a secret), which budget, until when. */
  private lockedOut(logger: Logger, key: CountedKey, host: string | undefined, until: number): void {
    this.lockouts.labels(key.kind).inc();
    const event = {
      event: "lockout",
      key: key.kind,
      until: new Date(until).toISOString(),
      // What is locked: the canonical name, or the address (an IPv6 network) and the client's own address.
      ...(key.kind === "user" ? { user: key.name } : { address: key.name }),
      client: { host },
    };
    logger.warn(event, "auth callout: logins locked out after too many failures");
    const subject = this.config.auditSubject;
    if (!subject) return;
    try {
      this.broker.publish(subject, { time: new Date().toISOString(), ...event });
    } catch (e) {
      logger.warn({ err: e }, "auth callout: audit event not published");
    }
  }
}
