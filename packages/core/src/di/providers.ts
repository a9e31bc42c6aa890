import type { DependencyContainer, InjectionToken } from "tsyringe";
import { instanceCachingFactory, instancePerContainerCachingFactory, Lifecycle } from "tsyringe";

import { SetupError } from "../errors.js";

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- matches tsyringe's own constructor type
export type Constructor<T = unknown> = new (...args: any[]) => T;

/** "app" (default): one instance per app. "message": one per message, made in the message's container. */
export type ProviderScope = "app" | "message";

/**
 * What `providers` accepts. A bare class is one instance per app; the object forms bind a token
 * (a class, a string or a symbol) to a value, a class, or a factory, once per app or once per message.
 */
export type Provider<T = unknown> =
  | Constructor<T>
  | { provide: InjectionToken<T>; useValue: T }
  | { provide: InjectionToken<T>; useClass: Constructor<T>; scope?: ProviderScope }
  | { provide: InjectionToken<T>; useFactory: (container: DependencyContainer) => T; scope?: ProviderScope };

export interface RegisteredProviders {
  /** Tokens with one instance per app, in registration order (lifespan hooks run on these). */
  app: InjectionToken[];
  /** Tokens made per message. */
  message: Set<InjectionToken>;
}

export function registerProviders(container: DependencyContainer, providers: readonly Provider[]): RegisteredProviders {
  const registered: RegisteredProviders = { app: [], message: new Set() };
  providers.forEach((p, i) => {
    if (typeof p === "function") {
      container.register(p, { useClass: p }, { lifecycle: Lifecycle.Singleton });
      registered.app.push(p);
    } else if (p && typeof p === "object" && "provide" in p) {
      const perMessage = "scope" in p && p.scope === "message";
      if ("scope" in p && p.scope !== undefined && p.scope !== "app" && p.scope !== "message") {
        throw new SetupError(`providers[${i}].scope`, `must be "app" or "message", got ${JSON.stringify(p.scope)}.`);
      }
      if ("useValue" in p) container.register(p.provide, { useValue: p.useValue });
      else if ("useClass" in p) {
        // ContainerScoped in the app container = one instance in each message's child container.
        container.register(p.provide, { useClass: p.useClass }, { lifecycle: perMessage ? Lifecycle.ContainerScoped : Lifecycle.Singleton });
      } else if ("useFactory" in p) {
        const factory = p.useFactory;
        container.register(p.provide, {
          useFactory: perMessage ? instancePerContainerCachingFactory(factory) : instanceCachingFactory(factory),
        });
      } else {
        throw new SetupError(`providers[${i}]`, "has `provide` but no useValue, useClass or useFactory.");
      }
      if (perMessage) registered.message.add(p.provide);
      else registered.app.push(p.provide);
    } else {
      throw new SetupError(
        `providers[${i}]`,
        `is ${p === null ? "null" : typeof p}, not a class or a { provide, use… } object.`,
        "list classes, or objects like { provide: Token, useValue: value }.",
      );
    }
  });
  return registered;
}

export function describeToken(token: unknown): string {
  if (typeof token === "function") return token.name || "anonymous class";
  return String(token);
}
