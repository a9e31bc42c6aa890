import { Broker } from "../../broker/broker.js";
import { jsonCodec } from "../../codec/codec.js";
import { addHandler } from "../../metadata/handler-metadata.js";
import { replyStage } from "../../pipeline/subscribe-pipeline.js";
import type { ObjectStoreDeclaration } from "../../resources/object-store.js";
import { declareSource } from "../kind.js";
import { watchObjects, type WatchObjectsOptions } from "./object-watch.js";

/**
 * Runs for the changes of a `defineObjectStore()` store: every object there at start once (unless
 * `initial: false`), then each put and delete, one at a time in order. `@Payload()` is an
 * `ObjectChangeInfo` (name, size, modified, digest, deleted); read the bytes with an injected handle.
 * With `@Publish`, a returned value is published as JSON.
 */
export function WatchObjects(store: ObjectStoreDeclaration, options: WatchObjectsOptions = {}) {
  return (prototype: object, method: string | symbol): void => {
    const target = prototype.constructor as new () => unknown;
    addHandler(target, {
      method,
      subject: ">",
      options: {},
      pipeline: ({ container, publishes }) => (publishes.length > 0 ? [replyStage(jsonCodec, publishes, container.resolve(Broker), false)] : []),
      source: declareSource(watchObjects, { ...options, store }),
    });
  };
}
