import { createRequire } from "node:module";

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
  /** The class each class provider (and singleton controller) is made from: what the dependency checks follow. */
  classes: Map<InjectionToken, Constructor>;
  /** Tokens made by a factory: what they depend on cannot be followed. */
  factories: Set<InjectionToken>;
}

/** Registers `providers` in `container`; `path` says where they are listed, for errors ("" or "routers[0] (billing) > "). */
export function registerProviders(container: DependencyContainer, providers: readonly Provider[], path = ""): RegisteredProviders {
  const registered: RegisteredProviders = { app: [], message: new Set(), classes: new Map(), factories: new Set() };
  providers.forEach((p, i) => {
    if (typeof p === "function") {
      container.register(p, { useClass: p }, { lifecycle: Lifecycle.Singleton });
      registered.app.push(p);
      registered.classes.set(p, p);
    } else if (p && typeof p === "object" && "provide" in p) {
      const perMessage = "scope" in p && p.scope === "message";
      if ("scope" in p && p.scope !== undefined && p.scope !== "app" && p.scope !== "message") {
        throw new SetupError(`${path}providers[${i}].scope`, `must be "app" or "message", got ${JSON.stringify(p.scope)}.`);
      }
      if ("useValue" in p) container.register(p.provide, { useValue: p.useValue });
      else if ("useClass" in p) {
        // ContainerScoped in the app container = one instance in each message's child container.
        container.register(p.provide, { useClass: p.useClass }, { lifecycle: perMessage ? Lifecycle.ContainerScoped : Lifecycle.Singleton });
        registered.classes.set(p.provide, p.useClass);
      } else if ("useFactory" in p) {
        const factory = p.useFactory;
        registered.factories.add(p.provide);
        container.register(p.provide, {
          useFactory: perMessage ? instancePerContainerCachingFactory(factory) : instanceCachingFactory(factory),
        });
      } else {
        throw new SetupError(`${path}providers[${i}]`, "has `provide` but no useValue, useClass or useFactory.");
      }
      if (perMessage) registered.message.add(p.provide);
      else registered.app.push(p.provide);
    } else {
      throw new SetupError(
        `${path}providers[${i}]`,
        `is ${p === null ? "null" : typeof p}, not a class or a { provide, use… } object.`,
        "list classes, or objects like { provide: Token, useValue: value }.",
      );
    }
  });
  return registered;
}

/**
 * What a child container (a router's) sees: its own providers, then its parent's for the tokens it
 * does not provide itself. `app` is its own only: the parent's instances are made by the parent.
 */
export function inheritProviders(parent: RegisteredProviders, own: RegisteredProviders): RegisteredProviders {
  const mine = new Set<unknown>([...own.app, ...own.message, ...own.classes.keys(), ...own.factories]);
  const inherited = (t: unknown) => !mine.has(t);
  return {
    app: own.app,
    message: new Set([...[...parent.message].filter(inherited), ...own.message]),
    classes: new Map([...[...parent.classes].filter(([t]) => inherited(t)), ...own.classes]),
    factories: new Set([...[...parent.factories].filter(inherited), ...own.factories]),
  };
}

export function describeToken(token: unknown): string {
  if (typeof token === "function") return token.name || "anonymous class";
  return String(token);
}

/** A constructor parameter as tsyringe resolves it. */
interface Dependency {
  token: unknown;
  /** `@inject(token, { isOptional: true })`: resolved to undefined when nothing provides it. */
  optional: boolean;
}

/** `@inject`/`@injectAll` descriptors by parameter index, as tsyringe stores them (its reflection-helpers.js). */
function injected(cls: Constructor): Record<string, unknown> {
  return (Reflect.getOwnMetadata("injectionTokens", cls) as Record<string, unknown> | undefined) ?? {};
}

/** What tsyringe resolves for each constructor parameter: `design:paramtypes`, replaced per parameter by `@inject(token)`. */
function dependencies(cls: Constructor): Dependency[] {
  const deps: Dependency[] = ((Reflect.getMetadata("design:paramtypes", cls) as unknown[] | undefined) ?? []).map((token) => ({ token, optional: false }));
  for (const [index, d] of Object.entries(injected(cls))) {
    deps[Number(index)] = typeof d === "object" && d !== null && "token" in d ? { token: d.token, optional: "isOptional" in d && d.isOptional === true } : { token: d, optional: false };
  }
  // Without paramtypes only the @inject'ed indexes are set: no holes.
  return Object.values(deps);
}

/**
 * The classes tsyringe's `@injectable()` has seen. tsyringe does not export this map; it is read
 * where Node loads tsyringe from (its CommonJS main). Undefined where that fails, in a bundle say.
 */
const injectables: ReadonlyMap<unknown, unknown> | undefined = (() => {
  try {
    return (createRequire(import.meta.url)("tsyringe/dist/cjs/dependency-container.js") as { typeInfo?: Map<unknown, unknown> }).typeInfo;
  } catch {
    return undefined;
  }
})();

// The types `design:paramtypes` records for an interface, a union, a primitive or an `import type`: no provider stands for them.
const NOT_A_CLASS = new Set<unknown>([Object, String, Number, Boolean, Symbol, BigInt, Array, Function, undefined]);

const EMIT_METADATA =
  "enable emitDecoratorMetadata (and experimentalDecorators) in tsconfig; tsx/esbuild do not emit it — use explicit @inject(token) " +
  "or a runner that emits metadata (vitest 4 with vite 8, tsc).";

/** Why tsyringe cannot construct `cls`, read from its decorator metadata; undefined when it can. */
function constructorProblem(cls: Constructor): { problem: string; fix: string } | undefined {
  const name = describeToken(cls);
  const paramtypes = Reflect.getMetadata("design:paramtypes", cls) as unknown[] | undefined;
  const tokens = injected(cls);
  if (paramtypes === undefined) {
    // tsyringe then knows only the @inject'ed parameters: it throws with none, passes undefined for the rest.
    const unknown = Array.from({ length: cls.length }, (_, i) => i).filter((i) => !(i in tokens));
    if (unknown.length === 0) return undefined;
    const problem = `its constructor takes ${cls.length} argument(s) but the types of #${unknown.join(", #")} are unknown`;
    const decorated = injectables?.has(cls);
    if (decorated === false) return { problem: `${problem}: ${name} is not @injectable().`, fix: `add @injectable() to ${name}.` };
    if (decorated) return { problem: `${problem}: no decorator metadata (design:paramtypes) was emitted for ${name}.`, fix: EMIT_METADATA };
    return { problem: `${problem}: ${name} has no decorator metadata (design:paramtypes).`, fix: `add @injectable() to ${name}; if it has it, ${EMIT_METADATA}` };
  }
  const index = paramtypes.findIndex((t, i) => !(i in tokens) && NOT_A_CLASS.has(t));
  if (index < 0) return undefined;
  const type = paramtypes[index] as { name?: string } | undefined;
  return {
    problem:
      `constructor parameter #${index} of ${name} has no class type at run time (it is ${type?.name ?? "undefined"}): ` +
      "an interface, a union, a primitive, or a class imported with `import type`.",
    fix: `type parameter #${index} with a class imported as a value, or add @inject(token) to it with a token listed in providers.`,
  };
}

/**
 * The chain of constructor dependencies by which `root`, made from `cls`, reaches a dependency
 * `wanted` says yes to — `[Orders, OrderService, RequestScopedRepo]` — or undefined. It follows class
 * providers, and classes registered outside the app (`@singleton()`); a value ends a branch, and so
 * does a factory: what it resolves happens inside it, out of sight.
 */
function chainTo(container: DependencyContainer, registered: RegisteredProviders, root: InjectionToken, cls: Constructor, wanted: (dep: Dependency) => boolean): unknown[] | undefined {
  const seen = new Set<unknown>([root]); // explored already (or on the path: a cycle)
  const follow = (c: Constructor, path: unknown[]): unknown[] | undefined => {
    for (const dep of dependencies(c)) {
      const { token } = dep;
      if (wanted(dep)) return [...path, token];
      if (seen.has(token)) continue;
      seen.add(token);
      const next = classOf(container, registered, token);
      const found = next && follow(next, [...path, token]);
      if (found) return found;
    }
    return undefined;
  };
  return follow(cls, [root]);
}

/** The class the container makes for `token`, when it is made from one. */
function classOf(container: DependencyContainer, registered: RegisteredProviders, token: unknown): Constructor | undefined {
  const t = token as InjectionToken;
  // Registered in the app or a parent router (the Broker, a provided value): not made from the class.
  return registered.classes.get(t) ?? (typeof token === "function" && !container.isRegistered(t, true) && !registered.message.has(t) ? (token as Constructor) : undefined);
}

interface Root {
  token: InjectionToken;
  cls: Constructor;
  where: string;
  controller: boolean;
  singleton: boolean;
}

/** Every class the app (or a router) makes instances of through its container. Controllers first, so errors show the longest chain. */
function roots(registered: RegisteredProviders, own: RegisteredProviders, controllers: readonly Constructor[], middleware: readonly Constructor[], path: string): Root[] {
  return [
    ...controllers.flatMap((c, i) =>
      typeof c === "function" ? [{ token: c as InjectionToken, cls: c, where: `${path}controllers[${i}] (${describeToken(c)})`, controller: true, singleton: registered.classes.has(c) }] : [],
    ),
    ...[...own.classes].flatMap(([token, cls]) =>
      controllers.includes(token as Constructor) ? [] : [{ token, cls, where: `${path}providers (${describeToken(token)})`, controller: false, singleton: !registered.message.has(token) }],
    ),
    // One instance per app, made by the container: singletons too.
    ...middleware.map((cls) => ({ token: cls as InjectionToken, cls, where: `${path}middleware ${describeToken(cls)}`, controller: false, singleton: true })),
  ];
}

/**
 * Refuses, before anything is made, what the container would get wrong, following every class the
 * app makes through its constructor dependencies, however deep:
 * - a class whose constructor types tsyringe cannot know (see `constructorProblem`);
 * - a dependency nothing provides: tsyringe would construct an unlisted class behind the user's back,
 *   default arguments and all, one per resolution;
 * - a singleton that reaches a message-scoped provider: it would keep the first message's instance for good.
 */
export function checkDependencies(
  container: DependencyContainer,
  registered: RegisteredProviders,
  controllers: readonly Constructor[],
  middleware: readonly Constructor[] = [],
  // A router's: where it is, and its own providers (its parent's were checked by the parent).
  scope: { path: string; own: RegisteredProviders } = { path: "", own: registered },
): void {
  const known = (token: unknown) => registered.message.has(token as InjectionToken) || container.isRegistered(token as InjectionToken, true);
  for (const { token, cls, where, controller, singleton } of roots(registered, scope.own, controllers, middleware, scope.path)) {
    const own = constructorProblem(cls);
    if (own) throw new SetupError(where, `cannot be created: ${own.problem}`, own.fix);
    let broken: { which: string; fix: string } | undefined;
    const chain = chainTo(container, registered, token, cls, ({ token: t, optional }) => {
      // A delay(() => X) or some other descriptor: resolved out of sight.
      if (typeof t !== "function" && typeof t !== "string" && typeof t !== "symbol") return false;
      if (!known(t)) {
        // Object and friends are the dependent's own problem, reported as such.
        if (optional || NOT_A_CLASS.has(t)) return false;
        const name = describeToken(t);
        broken =
          typeof t === "function"
            ? { which: "is not in providers: the container would quietly construct one of its own.", fix: `add ${name} to providers (or { provide: ${name}, useValue: … }).` }
            : { which: "nothing provides.", fix: `add { provide: ${name}, useValue: … } (or useClass, useFactory) to providers.` };
        return true;
      }
      const made = classOf(container, registered, t);
      const problem = made && constructorProblem(made);
      broken = problem && { which: `cannot be created: ${problem.problem}`, fix: problem.fix };
      return broken !== undefined;
    });
    if (chain && broken) {
      const names = chain.map(describeToken);
      throw new SetupError(where, `depends on ${names[names.length - 1]} (${names.join(" → ")}), which ${broken.which}`, broken.fix);
    }
    if (singleton) checkScope(container, registered, { token, cls, where, controller });
  }
}

/** Refuses a singleton that reaches a message-scoped provider through its dependencies, however deep. */
function checkScope(container: DependencyContainer, registered: RegisteredProviders, { token, cls, where, controller }: Omit<Root, "singleton">): void {
  const chain = chainTo(container, registered, token, cls, ({ token: t }) => registered.message.has(t as InjectionToken));
  if (!chain) return;
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

/**
 * Whether instances of `cls` can get hold of one of `tokens` through their constructor dependencies,
 * however deep. A factory or message-scoped provider on the way counts as yes: what it does is out of sight.
 */
export function canReach(container: DependencyContainer, registered: RegisteredProviders, cls: Constructor, tokens: readonly unknown[]): boolean {
  const hidden = (t: unknown) => registered.factories.has(t as InjectionToken) || registered.message.has(t as InjectionToken);
  return chainTo(container, registered, cls, cls, ({ token }) => tokens.includes(token) || hidden(token)) !== undefined;
}
