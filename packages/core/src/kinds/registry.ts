import type { DependencyContainer } from "tsyringe";

import { SetupError } from "../errors.js";
import type { SourceDeclaration } from "../metadata/handler-metadata.js";
import type { Middleware } from "../middleware/middleware.js";
import { consume } from "./consume/kind.js";
import type { HandlerKind } from "./kind.js";
import { subscription } from "./subscribe/kind.js";
import { subscribeStages, type AppSubscribeOptions } from "./subscribe/subscribe.js";
import { watchKv } from "./watch/kv-watch.js";
import { watchObjects } from "./watch/object-watch.js";

export type { AppSubscribeOptions } from "./subscribe/subscribe.js";

/**
 * Every kind of handler, by the name its declarations carry: the one module that knows them all.
 * A new kind is a folder under `kinds/` (its decorator, factory and source) and a line here.
 */
const KINDS: ReadonlyMap<string, HandlerKind> = new Map([subscription, consume, watchKv, watchObjects].map((kind) => [kind.name, kind]));

/** The kind a handler declares; one that declares none (`@Subscribe`, `@AuthCallout`) is a core subscription. */
export function kindOf(source: SourceDeclaration | undefined, where: string): HandlerKind {
  if (source === undefined) return subscription;
  const kind = KINDS.get(source.kind);
  if (!kind) throw new SetupError(where, `declares a handler kind natsflow does not know: ${JSON.stringify(source.kind)}.`, `use one of ${[...KINDS.keys()].join(", ")}.`);
  return kind;
}

/** What `app.subscribe` adds: a core subscription, with `@Subscribe`'s stages (decoding, validation, the reply). */
export function runtimeHandler(name: string, options: AppSubscribeOptions, container: DependencyContainer): { kind: HandlerKind; stages: Middleware[] } {
  return { kind: subscription, stages: subscribeStages(name, options, container, []) };
}
