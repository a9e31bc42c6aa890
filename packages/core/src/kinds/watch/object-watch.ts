import { SetupError } from "../../errors.js";
import { ObjectStoreResource, resolveObjectStore, type ObjectStoreDeclaration } from "../../resources/object-store.js";
import type { ObjectChange } from "../../transport/transport.js";
import type { HandlerKind } from "../kind.js";
import { Watcher, type WatchSource } from "./watcher.js";

export interface WatchObjectsOptions {
  /** Report every object there at start first (deleted ones left out), then changes. Default true. */
  initial?: boolean;
}

/** What `@WatchObjects` declares: the store and the watch's options. */
export interface WatchObjectsDeclaration extends WatchObjectsOptions {
  readonly store: ObjectStoreDeclaration;
}

/** The `@Payload()` of a `@WatchObjects` handler: which object changed, and how. */
export interface ObjectChangeInfo {
  readonly store: string;
  readonly name: string;
  readonly size: number;
  readonly modified: Date;
  readonly digest: string;
  /** True when the object was deleted. */
  readonly deleted: boolean;
  /** True for the objects reported before the live changes. */
  readonly initial: boolean;
}

/**
 * A watch of an object store's changes (`@WatchObjects`): no subject of its own. The store is set
 * up at start; changes run one at a time, in order.
 */
export const watchObjects: HandlerKind<WatchObjectsDeclaration> = {
  name: "watch-objects",
  prefixed: false,
  queued: false,
  resolve(options, { name, use }) {
    const store = use(new ObjectStoreResource(resolveObjectStore(options.store, `${name} store`), name));
    if (options.initial !== undefined && typeof options.initial !== "boolean") throw new SetupError(`${name} initial`, "must be true or false.");
    const initial = options.initial ?? true;
    return {
      // Every watcher sees every change: nothing to share.
      share: undefined,
      doc: { address: `$O.${store.name}.M.>`, replies: false, extensions: { "x-natsflow-watch": { objectStore: store.name } } },
      open: (binding, { container, metrics }) => new Watcher(binding, objectSource(store, initial), container, metrics),
    };
  },
};

/** A store's changes as a watcher sees them; the object's bytes stay in the store (read them with a handle). */
function objectSource(resource: ObjectStoreResource, initial: boolean): WatchSource<ObjectChange> {
  return {
    start: async (accept, onEnd) => (await resource.bucket()).watch(accept, { initial, onEnd }),
    present(change) {
      const payload: ObjectChangeInfo = { store: resource.name, ...change.info, deleted: change.deleted, initial: change.initial };
      return {
        message: { subject: change.info.name, data: new Uint8Array(0) },
        prepare: (ctx) => {
          ctx.payload = payload;
        },
        log: { store: resource.name, object: change.info.name, deleted: change.deleted },
      };
    },
  };
}
