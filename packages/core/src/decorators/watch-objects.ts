import { SetupError } from "../errors.js";
import type { ObjectStoreDeclaration } from "../jetstream/object-store.js";
import { resolveWatchObjects, type WatchObjectsOptions } from "../jetstream/object-watch.js";
import { addHandler, getPublish } from "../metadata/handler-metadata.js";

/**
 * Runs for the changes of a `defineObjectStore()` store: every object there at start once (unless
 * `initial: false`), then each put and delete, one at a time in order. `@Payload()` is an
 * `ObjectChangeInfo` (name, size, modified, digest, deleted); read the bytes with an injected handle.
 */
export function WatchObjects(store: ObjectStoreDeclaration, options: WatchObjectsOptions = {}) {
  return (prototype: object, method: string | symbol): void => {
    const target = prototype.constructor as new () => unknown;
    addHandler(target, {
      method,
      subject: ">",
      options: {},
      pipeline: ({ name }) => {
        if (getPublish(target, method).length > 0) {
          throw new SetupError(`${name} @Publish`, "is not supported on @WatchObjects handlers.", "publish from the handler with the injected Broker.");
        }
        return [];
      },
      watch: ({ name }) => resolveWatchObjects(store, options, name),
    });
  };
}
