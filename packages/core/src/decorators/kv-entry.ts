import { addParam } from "../metadata/handler-metadata.js";
import type { KvEntry as TransportKvEntry } from "../transport/transport.js";

/** The `KvEntryInfo` of a `@WatchKv` handler's entry: bucket, key, revision, operation ("PUT" | "DEL" | "PURGE"), created. */
export function KvEntry() {
  return (prototype: object, method: string | symbol | undefined, index: number): void => {
    addParam(prototype.constructor as new () => unknown, method as string | symbol, { index, kind: "kvEntry" });
  };
}

/** The transport's raw entry, as `KvBucket` reads and watches it (a type may share the decorator's name). */
export type KvEntry = TransportKvEntry;
