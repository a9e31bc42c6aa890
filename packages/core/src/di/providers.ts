import type { DependencyContainer, InjectionToken } from "tsyringe";
import { instanceCachingFactory, Lifecycle } from "tsyringe";

import { SetupError } from "../errors.js";

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- matches tsyringe's own constructor type
export type Constructor<T = unknown> = new (...args: any[]) => T;

/**
 * What `providers` accepts. A bare class is one instance per app; the object forms bind a token
 * (a class, a string or a symbol) to a value, a class, or a factory run once on first use.
 */
export type Provider<T = unknown> =
  | Constructor<T>
  | { provide: InjectionToken<T>; useValue: T }
  | { provide: InjectionToken<T>; useClass: Constructor<T> }
  | { provide: InjectionToken<T>; useFactory: (container: DependencyContainer) => T };

export function registerProviders(container: DependencyContainer, providers: readonly Provider[]): void {
  providers.forEach((p, i) => {
    if (typeof p === "function") {
      container.register(p, { useClass: p }, { lifecycle: Lifecycle.Singleton });
    } else if (p && typeof p === "object" && "provide" in p) {
      if ("useValue" in p) container.register(p.provide, { useValue: p.useValue });
      else if ("useClass" in p) {
        container.register(p.provide, { useClass: p.useClass }, { lifecycle: Lifecycle.Singleton });
      } else if ("useFactory" in p) {
        container.register(p.provide, { useFactory: instanceCachingFactory(p.useFactory) });
      } else {
        throw new SetupError(`providers[${i}]`, "has `provide` but no useValue, useClass or useFactory.");
      }
    } else {
      throw new SetupError(
        `providers[${i}]`,
        `is ${p === null ? "null" : typeof p}, not a class or a { provide, use… } object.`,
        "list classes, or objects like { provide: Token, useValue: value }.",
      );
    }
  });
}

export function describeToken(token: unknown): string {
  if (typeof token === "function") return token.name || "anonymous class";
  return String(token);
}
