import { contextParam } from "../../metadata/handler-metadata.js";
import type { KvEntry as TransportKvEntry } from "../../transport/transport.js";
import { KV_ENTRY, watchKv } from "./kv-watch.js";

/** The `KvEntryInfo` of a `@WatchKv` handler's entry: bucket, key, revision, operation ("PUT" | "DEL" | "PURGE"), created. */
export function KvEntry() {
  return contextParam({ key: KV_ENTRY, decorator: "@KvEntry()", kinds: [watchKv.name], elsewhere: ["is only for @WatchKv handlers.", "remove it, or watch a bucket."] });
}

/** The transport's raw entry, as `KvBucket` reads and watches it (a type may share the decorator's name). */
export type KvEntry = TransportKvEntry;
