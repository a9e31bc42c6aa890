import "reflect-metadata";
import type { DependencyContainer } from "tsyringe";

import type { CodecOption } from "../codec/codec.js";
import type { ContextKey, MessageContext } from "../dispatch/context.js";
import type { ExceptionHandler } from "../dispatch/exceptions.js";
import type { MiddlewareSpec } from "../middleware/middleware.js";
import type { PublishSpec, PublishTarget } from "../pipeline/publish.js";
import type { StandardSchemaV1 } from "../validation/standard-schema.js";
import { CATCH_METADATA, CONTROLLER_METADATA, HANDLERS_METADATA, PARAMS_METADATA, PUBLISH_METADATA, USE_METADATA } from "./keys.js";

export interface HandlerOptions {
  /** Queue group: instances of a service sharing it split the messages between them. */
  queue?: string;
  /** Messages this handler runs at once in this process; more wait in order. */
  concurrency?: number;
  /**
   * Messages allowed to wait beyond `concurrency`. Past it, a message is answered at once as
   * overloaded (see `overflow` in `HandlerMetadata`) instead of queueing past any useful deadline.
   * Default 1024 (`DEFAULT_MAX_PENDING`); `Infinity` for no bound.
   */
  maxPending?: number;
  /** Shown as this handler's endpoint metadata by NATS micro discovery (the app's `service` option). */
  metadata?: Record<string, string>;
  /**
   * Which of the messages on its subject (or durable) this handler takes, when several share it:
   * headers that must hold one of the given values, checked before decoding, or a synchronous
   * predicate on the payload decoded (and validated) with this handler's codec and schema. The first
   * handler whose filter matches, in declaration order, runs; the one without a filter is the default.
   */
  filter?: MessageFilter;
  /** `false`: no correlation ids for this handler's messages, whatever the app says (for protocol handlers like the auth callout). */
  correlation?: false;
}

/** See `HandlerOptions.filter`. */
export type MessageFilter =
  | { readonly headers: Readonly<Record<string, string | readonly string[]>> }
  | ((payload: never, ctx: MessageContext) => boolean);

/** Where in a class a handler is, for pipeline factories that need to read more metadata. */
export interface HandlerSite {
  readonly target: Target;
  readonly method: string | symbol;
  /** `Class.method` */
  readonly name: string;
  readonly container: DependencyContainer;
  /** The handler's `@Publish` targets, checked. */
  readonly publishes: readonly PublishTarget[];
}

/** What a handler takes, for its AsyncAPI description: set by each handler decorator. */
export interface HandlerDescription {
  readonly schema?: StandardSchemaV1 | undefined;
  readonly codec?: CodecOption | undefined;
  /** One line on what it does. */
  readonly summary?: string | undefined;
}

/** Stored by decorators at decoration time; read by the explorer at bootstrap. */
export interface HandlerMetadata {
  readonly method: string | symbol;
  /** May contain `{name}` tokens (see `@Param`) and `*`/`>` wildcards. */
  readonly subject: string;
  readonly options: HandlerOptions;
  /**
   * Builds, at bootstrap, the handler kind's own stage — codecs, validation, the reply — which wraps
   * every user middleware. The place to throw `SetupError` for a configuration that cannot work.
   */
  readonly pipeline: (site: HandlerSite) => MiddlewareSpec[];
  /**
   * The chain an overflowing message runs through instead, ending in an `OverloadedError`.
   * Default: the same stages as `pipeline`, so the error is answered the handler kind's way.
   */
  readonly overflow?: (site: HandlerSite) => MiddlewareSpec[];
  /**
   * Which kind of source feeds the handler its messages, with that kind's options: set by the kind's
   * decorator (`@Consume`, `@WatchKv`, …) and checked by the kind at bootstrap. Default: a core
   * subscription to `subject` in `options.queue`, as for `@Subscribe` and `@AuthCallout`.
   */
  readonly source?: SourceDeclaration;
  readonly describe?: HandlerDescription;
  /**
   * `subject` is fixed by something outside the app (the subject nats-server sends auth requests
   * to): a router's or controller's prefix, which would move it, is refused at create.
   */
  readonly fixedSubject?: true;
}

/** A handler's kind (a `HandlerKind` name) and that kind's options, as its decorator stored them. */
export interface SourceDeclaration {
  readonly kind: string;
  readonly options?: unknown;
}

export type ControllerScope = "singleton" | "message";

export interface ControllerMetadata {
  /** Subject prefix joined with a `.` to each handler subject. */
  readonly prefix?: string | undefined;
  /** "singleton" (default): one instance per app. "message": a new one per message, from its container. */
  readonly scope: ControllerScope;
}

/** What a parameter decorator stored: which argument the handler is called with at `index`. */
export type ParamSpec =
  | { readonly index: number; readonly kind: "payload" | "headers" | "subject" | "msg" | "ctx" }
  /** The subject token matched by `{name}`. */
  | { readonly index: number; readonly kind: "param"; readonly name: string }
  | ContextParamSpec;

/**
 * A parameter reading a slot of the message's context that some kinds of source fill (`@Delivery()`,
 * `@KvEntry()`): refused at bootstrap on a handler of another kind.
 */
export interface ContextParamSpec {
  readonly index: number;
  readonly kind: "context";
  readonly key: ContextKey<unknown>;
  /** How messages name it: "@Delivery()". */
  readonly decorator: string;
  /** The `HandlerKind` names whose sources fill the slot. */
  readonly kinds: readonly string[];
  /** What is wrong on another kind, and the fix. */
  readonly elsewhere: readonly [problem: string, fix: string];
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any class, abstract or not
export type Target = abstract new (...args: any[]) => unknown;

export function defineController(target: Target, meta: ControllerMetadata): void {
  Reflect.defineMetadata(CONTROLLER_METADATA, meta, target);
}

export function getControllerMetadata(target: Target): ControllerMetadata | undefined {
  return Reflect.getOwnMetadata(CONTROLLER_METADATA, target) as ControllerMetadata | undefined;
}

export function addHandler(target: Target, meta: HandlerMetadata): void {
  Reflect.defineMetadata(HANDLERS_METADATA, [...getHandlers(target), meta], target);
}

export function getHandlers(target: Target): readonly HandlerMetadata[] {
  return (Reflect.getOwnMetadata(HANDLERS_METADATA, target) as HandlerMetadata[] | undefined) ?? [];
}

function perMethod<T>(key: symbol, target: Target): Map<string | symbol, T> {
  let map = Reflect.getOwnMetadata(key, target) as Map<string | symbol, T> | undefined;
  if (!map) {
    map = new Map();
    Reflect.defineMetadata(key, map, target);
  }
  return map;
}

export function addParam(target: Target, method: string | symbol, spec: ParamSpec): void {
  const map = perMethod<ParamSpec[]>(PARAMS_METADATA, target);
  map.set(method, [...(map.get(method) ?? []), spec]);
}

/** A parameter decorator for a context slot some kinds' sources fill (`@Delivery()`, `@KvEntry()`). */
export function contextParam(spec: Omit<ContextParamSpec, "index" | "kind">) {
  return (prototype: object, method: string | symbol | undefined, index: number): void => {
    addParam(prototype.constructor as Target, method as string | symbol, { ...spec, index, kind: "context" });
  };
}

export function getParams(target: Target, method: string | symbol): readonly ParamSpec[] {
  return perMethod<ParamSpec[]>(PARAMS_METADATA, target).get(method) ?? [];
}

const CLASS_LEVEL = Symbol("class");

/** A list stored per method, or for the whole class when `method` is undefined (`@Use`, `@Catch`). */
function addToLevel<T>(key: symbol, target: Target, method: string | symbol | undefined, items: readonly T[]): void {
  const map = perMethod<T[]>(key, target);
  const level = method ?? CLASS_LEVEL;
  // Decorators apply bottom-up; prepend so that `@Use(a) @Use(b)` runs a, then b.
  map.set(level, [...items, ...(map.get(level) ?? [])]);
}

function getLevel<T>(key: symbol, target: Target, method: string | symbol | undefined): readonly T[] {
  return perMethod<T[]>(key, target).get(method ?? CLASS_LEVEL) ?? [];
}

/** Middleware from `@Use()`: `method` undefined means the whole class. */
export function addUse(target: Target, method: string | symbol | undefined, middleware: readonly MiddlewareSpec[]): void {
  addToLevel(USE_METADATA, target, method, middleware);
}

export function getUse(target: Target, method?: string | symbol): readonly MiddlewareSpec[] {
  return getLevel(USE_METADATA, target, method);
}

/** Exception handlers from `@Catch()`, tried in declaration order: `method` undefined means the whole class. */
export function addCatch(target: Target, method: string | symbol | undefined, handlers: readonly ExceptionHandler[]): void {
  addToLevel(CATCH_METADATA, target, method, handlers);
}

export function getCatch(target: Target, method?: string | symbol): readonly ExceptionHandler[] {
  return getLevel(CATCH_METADATA, target, method);
}

export function addPublish(target: Target, method: string | symbol, spec: PublishSpec): void {
  const map = perMethod<PublishSpec[]>(PUBLISH_METADATA, target);
  map.set(method, [spec, ...(map.get(method) ?? [])]);
}

export function getPublish(target: Target, method: string | symbol): readonly PublishSpec[] {
  return perMethod<PublishSpec[]>(PUBLISH_METADATA, target).get(method) ?? [];
}

/** Methods with `@Publish()` or parameter decorators: the explorer checks each is also a handler. */
export function decoratedMethods(target: Target): Array<string | symbol> {
  return [...new Set([...perMethod(PUBLISH_METADATA, target).keys(), ...perMethod(PARAMS_METADATA, target).keys()])];
}
