import type { InjectionToken } from "tsyringe";

import { SetupError } from "../errors.js";
import { describeToken, type Constructor, type Provider } from "./providers.js";

/** A replacement for whatever provides `provide`: the object forms of `Provider`. */
export type Override<T = unknown> = Exclude<Provider<T>, Constructor<T>>;

/** `NatsApp.create`'s second argument: what a test changes without rebuilding the app's options. */
export interface CreateOptions {
  /** Providers replaced by token, in the app and in every router, before anything is made. */
  overrides?: Override[];
}

function tokenOf(provider: Provider): InjectionToken {
  return typeof provider === "function" ? provider : provider.provide;
}

/**
 * `NatsApp.create`'s `overrides`: each replaces every registration of its token, in the app's
 * `providers` and in every router's, before anything is made. One that replaces nothing is refused
 * (a typo would otherwise leave the real provider in the test).
 */
export class Overrides {
  private readonly byToken = new Map<InjectionToken, Override>();
  private readonly used = new Set<InjectionToken>();

  constructor(overrides: unknown) {
    if (overrides === undefined) return;
    if (!Array.isArray(overrides)) throw new SetupError("overrides", "must be an array of { provide, useValue | useClass | useFactory }.");
    overrides.forEach((o: unknown, i) => {
      if (o === null || typeof o !== "object" || !("provide" in o) || !("useValue" in o || "useClass" in o || "useFactory" in o)) {
        throw new SetupError(`overrides[${i}]`, "is not a { provide, useValue | useClass | useFactory } object.", "e.g. { provide: OrderRepository, useValue: fakeRepository }.");
      }
      const override = o as Override;
      if (this.byToken.has(override.provide)) throw new SetupError(`overrides[${i}]`, `replaces ${describeToken(override.provide)} a second time.`, "keep one override per token.");
      this.byToken.set(override.provide, override);
    });
  }

  /** `providers` with the overridden ones replaced, in place (order kept). */
  apply(providers: readonly Provider[]): Provider[] {
    if (this.byToken.size === 0) return [...providers];
    return providers.map((p) => {
      const token = p !== null && (typeof p === "function" || typeof p === "object") ? tokenOf(p) : undefined;
      const override = token === undefined ? undefined : this.byToken.get(token);
      if (!override || token === undefined) return p;
      this.used.add(token);
      return override;
    });
  }

  /** Called once every providers list has been through `apply`. */
  checkUsed(): void {
    for (const token of this.byToken.keys()) {
      if (!this.used.has(token)) {
        throw new SetupError(
          `overrides (${describeToken(token)})`,
          "replaces nothing: no providers list (the app's or a router's) provides it.",
          "override a token listed in providers, or add the provider to providers.",
        );
      }
    }
  }
}
