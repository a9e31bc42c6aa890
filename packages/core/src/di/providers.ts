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
  /** The class each app-scoped class provider (and singleton controller) is made from: what the scope check follows. */
  classes: Map<InjectionToken, Constructor>;
  /** Tokens made by a factory: what they depend on cannot be followed. */
  factories: Set<InjectionToken>;
}

export function registerProviders(container: DependencyContainer, providers: readonly Provider[]): RegisteredProviders {
  const registered: RegisteredProviders = { app: [], message: new Set(), classes: new Map(), factories: new Set() };
  providers.forEach((p, i) => {
    if (typeof p === "function") {
      container.register(p, { useClass: p }, { lifecycle: Lifecycle.Singleton });
      registered.app.push(p);
      registered.classes.set(p, p);
    } else if (p && typeof p === "object" && "provide" in p) {
      const perMessage = "scope" in p && p.scope === "message";
      if ("scope" in p && p.scope !== undefined && p.scope !== "app" && p.scope !== "message") {
        throw new SetupError(`providers[${i}].scope`, `must be "app" or "message", got ${JSON.stringify(p.scope)}.`);
      }
      if ("useValue" in p) container.register(p.provide, { useValue: p.useValue });
      else if ("useClass" in p) {
        // ContainerScoped in the app container = one instance in each message's child container.
        container.register(p.provide, { useClass: p.useClass }, { lifecycle: perMessage ? Lifecycle.ContainerScoped : Lifecycle.Singleton });
        if (!perMessage) registered.classes.set(p.provide, p.useClass);
      } else if ("useFactory" in p) {
        const factory = p.useFactory;
        registered.factories.add(p.provide);
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

/** The tokens tsyringe resolves for a constructor: `design:paramtypes`, replaced per parameter by `@inject(token)`. */
function constructorTokens(cls: Constructor): unknown[] {
  const tokens = [...((Reflect.getMetadata("design:paramtypes", cls) as unknown[] | undefined) ?? [])];
  // tsyringe's @inject/@injectAll store { token, … } by parameter index here (its reflection-helpers.js).
  const injected = (Reflect.getOwnMetadata("injectionTokens", cls) as Record<string, unknown> | undefined) ?? {};
  for (const [index, d] of Object.entries(injected)) tokens[Number(index)] = typeof d === "object" && d !== null && "token" in d ? d.token : d;
  return tokens;
}

/**
 * The chain of constructor dependencies by which `root`, made from `cls`, reaches a token `wanted`
 * says yes to — `[Orders, OrderService, RequestScopedRepo]` — or undefined. It follows class
 * providers, and classes tsyringe would construct by itself; a value ends a branch, and so does a
 * factory: what it resolves happens inside it, out of sight.
 */
function chainTo(container: DependencyContainer, registered: RegisteredProviders, root: InjectionToken, cls: Constructor, wanted: (token: unknown) => boolean): unknown[] | undefined {
  const seen = new Set<unknown>([root]); // explored already (or on the path: a cycle)
  const follow = (c: Constructor, path: unknown[]): unknown[] | undefined => {
    for (const token of constructorTokens(c)) {
      if (wanted(token)) return [...path, token];
      if (seen.has(token)) continue;
      seen.add(token);
      const next =
        registered.classes.get(token as InjectionToken) ??
        (typeof token === "function" && !container.isRegistered(token as InjectionToken) ? (token as Constructor) : undefined);
      const found = next && follow(next, [...path, token]);
      if (found) return found;
    }
    return undefined;
  };
  return follow(cls, [root]);
}

/**
 * Refuses every singleton — controller or app-scoped provider — that reaches a message-scoped provider
 * through its dependencies, however deep: it would keep the first message's instance for good.
 * Controllers first, so the error shows the longest chain.
 */
export function checkScopes(container: DependencyContainer, registered: RegisteredProviders, controllers: readonly Constructor[], middleware: readonly Constructor[] = []): void {
  const roots = [
    ...controllers.flatMap((c, i) => (registered.classes.has(c) ? [{ token: c as InjectionToken, cls: c, where: `controllers[${i}] (${describeToken(c)})`, controller: true }] : [])),
    ...registered.app.flatMap((token) => {
      const cls = registered.classes.get(token);
      return cls ? [{ token, cls, where: `providers (${describeToken(token)})`, controller: false }] : [];
    }),
    // One instance per app, made by the container: singletons too.
    ...middleware.map((cls) => ({ token: cls as InjectionToken, cls, where: `middleware ${describeToken(cls)}`, controller: false })),
  ];
  for (const { token, cls, where, controller } of roots) {
    const chain = chainTo(container, registered, token, cls, (t) => registered.message.has(t as InjectionToken));
    if (!chain) continue;
    const names = chain.map(describeToken);
    const between = names.slice(1, -1);
    const scoped = names[names.length - 1];
    throw new SetupError(
      where,
      `is a singleton but depends on message-scoped ${scoped} (${names.join(" → ")}); it would share one instance across messages.`,
      [
        ...(between.length > 0 ? [`make ${between.join(", ")} message-scoped too ({ provide, useClass, scope: "message" })`] : []),
        controller ? `declare @Controller(prefix, { scope: "message" })` : `make ${names[0]} message-scoped`,
      ].join(" and ") + `, or resolve ${scoped} from ctx.container in the handler.`,
    );
  }
}

/**
 * Whether instances of `cls` can get hold of one of `tokens` through their constructor dependencies,
 * however deep. A factory or message-scoped provider on the way counts as yes: what it does is out of sight.
 */
export function canReach(container: DependencyContainer, registered: RegisteredProviders, cls: Constructor, tokens: readonly unknown[]): boolean {
  const hidden = (t: unknown) => registered.factories.has(t as InjectionToken) || registered.message.has(t as InjectionToken);
  return chainTo(container, registered, cls, cls, (t) => tokens.includes(t) || hidden(t)) !== undefined;
}
