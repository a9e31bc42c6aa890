import { SetupError } from "../errors.js";
import type { ObjectChange, ObjectStoreBucket } from "../transport/transport.js";
import { resolveObjectStore, type ObjectStoreDeclaration, type ResolvedObjectStore } from "./object-store.js";
import type { WatchSource } from "./watcher.js";

export interface WatchObjectsOptions {
  /** Report every object there at start first (deleted ones left out), then changes. Default true. */
  initial?: boolean;
}

/** What a `@WatchObjects` handler watches, checked at `NatsApp.create`. */
export interface ObjectWatchSpec {
  readonly kind: "objects";
  readonly store: ResolvedObjectStore;
  readonly initial: boolean;
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

export function resolveWatchObjects(declaration: ObjectStoreDeclaration, options: WatchObjectsOptions, name: string): ObjectWatchSpec {
  const store = resolveObjectStore(declaration, `${name} store`);
  if (options.initial !== undefined && typeof options.initial !== "boolean") throw new SetupError(`${name} initial`, "must be true or false.");
  return { kind: "objects", store, initial: options.initial ?? true };
}

/** A store's changes as a watcher sees them; the object's bytes stay in the store (read them with a handle). */
export function objectSource(spec: ObjectWatchSpec, store: ObjectStoreBucket): WatchSource<ObjectChange> {
  return {
    start: (accept, onEnd) => store.watch(accept, { initial: spec.initial, onEnd }),
    present(change) {
      const payload: ObjectChangeInfo = { store: store.name, ...change.info, deleted: change.deleted, initial: change.initial };
      return {
        message: { subject: change.info.name, data: new Uint8Array(0) },
        prepare: (ctx) => {
          ctx.payload = payload;
        },
        log: { store: store.name, object: change.info.name, deleted: change.deleted },
      };
    },
  };
}
