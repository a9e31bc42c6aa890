import { injectable } from "tsyringe";

import { defineController, type ControllerScope, type Target } from "../metadata/handler-metadata.js";

export interface ControllerOptions {
  /** "singleton" (default): one instance per app. "message": a fresh one per message, for message-scoped dependencies. */
  scope?: ControllerScope;
}

/**
 * A class of handlers. Makes it injectable (constructor dependencies are resolved by type) and sets
 * a subject prefix joined with "." to each `@Subscribe` subject.
 */
export function Controller(prefix?: string, options: ControllerOptions = {}) {
  return (target: Target): void => {
    injectable()(target as unknown as new (...args: never[]) => unknown);
    defineController(target, { prefix: prefix || undefined, scope: options.scope ?? "singleton" });
  };
}
