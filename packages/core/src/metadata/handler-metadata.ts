import "reflect-metadata";
import type { DependencyContainer } from "tsyringe";

import type { MessageContext } from "../dispatch/context.js";
import type { MiddlewareSpec } from "../middleware/middleware.js";
import { CONTROLLER_METADATA, HANDLERS_METADATA } from "./keys.js";

export interface HandlerOptions {
  /** Queue group: instances of a service sharing it split the messages between them. */
  queue?: string;
  /** Messages this handler runs at once in this process; more wait in order. */
  concurrency?: number;
}

/** Stored by decorators at decoration time; read by the explorer at bootstrap. */
export interface HandlerMetadata {
  readonly method: string | symbol;
  readonly subject: string;
  readonly options: HandlerOptions;
  /** Handler-level middleware, innermost after controller and app middleware. */
  readonly middleware: readonly MiddlewareSpec[];
  /** Maps a message to the method's arguments; by default the (decoded) payload. */
  readonly args?: (ctx: MessageContext) => unknown[];
  /** Runs at bootstrap before the chain is built: the place to fail with a `SetupError` for missing setup. */
  readonly prepare?: (container: DependencyContainer) => void;
}

export interface ControllerMetadata {
  /** Subject prefix joined with a `.` to each handler subject. */
  readonly prefix?: string | undefined;
  readonly middleware: readonly MiddlewareSpec[];
}

type Target = abstract new (...args: never[]) => unknown;

export function defineController(target: Target, meta: ControllerMetadata): void {
  Reflect.defineMetadata(CONTROLLER_METADATA, meta, target);
}

export function getControllerMetadata(target: Target): ControllerMetadata | undefined {
  return Reflect.getOwnMetadata(CONTROLLER_METADATA, target) as ControllerMetadata | undefined;
}

export function addHandler(target: Target, meta: HandlerMetadata): void {
  const list = getHandlers(target);
  Reflect.defineMetadata(HANDLERS_METADATA, [...list, meta], target);
}

export function getHandlers(target: Target): readonly HandlerMetadata[] {
  return (Reflect.getOwnMetadata(HANDLERS_METADATA, target) as HandlerMetadata[] | undefined) ?? [];
}
