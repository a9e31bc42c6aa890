import type { Codec, CodecOption } from "../../codec/codec.js";
import { createContextKey } from "../../dispatch/context.js";
import { SetupError } from "../../errors.js";
import type { Middleware } from "../../middleware/middleware.js";
import { resolvePayloadStage } from "../../pipeline/subscribe-pipeline.js";
import { isKvDeclaration, kvOperation, KvResource, resolveKv, type KvDeclaration, type KvOperation, type KvOptions } from "../../resources/kv.js";
import type { KvEntry } from "../../transport/transport.js";
import type { StandardSchemaV1 } from "../../validation/standard-schema.js";
import type { HandlerKind } from "../kind.js";
import { Watcher, type WatchSource } from "./watcher.js";

export interface WatchKvOptions {
  /** A key or a filter (`features.>`, `users.*`); `{name}` tokens work as with `@Subscribe`. Default every key. */
  keys?: string;
  /** Deliver every matching key's current value first (once, deleted keys left out), then changes. Default true. */
  initial?: boolean;
  /** Default: the bucket's schema. A value that fails it is logged and counted, and the watch goes on. */
  schema?: StandardSchemaV1;
  /** Default: the bucket's codec. */
  codec?: CodecOption;
}

/** What a `@WatchKv` handler watches, checked at `NatsApp.create`. */
export interface KvWatchSpec {
  /** The app's bucket, set up at start. */
  readonly kv: KvResource;
  /** The compiled key filter. */
  readonly filter: string;
  readonly initial: boolean;
}

/** The entry a `@WatchKv` handler runs for, for `@KvEntry()` parameters. */
export interface KvEntryInfo {
  readonly bucket: string;
  readonly key: string;
  readonly revision: number;
  readonly operation: KvOperation;
  /** When the server stored the write. */
  readonly created: Date;
  /** True for the current values delivered before the live changes. */
  readonly initial: boolean;
}

export const KV_ENTRY = createContextKey<KvEntryInfo>("natsflow:kv-entry");

/** What `@WatchKv` declares: the bucket and the watch's options. */
export interface WatchKvDeclaration extends WatchKvOptions {
  readonly bucket: KvDeclaration;
}

/**
 * A watch of a KV bucket's entries (`@WatchKv`): its subject is the key filter, which a controller's
 * prefix does not apply to. The bucket is set up at start; entries run one at a time, in order.
 */
export const watchKv: HandlerKind<WatchKvDeclaration> = {
  name: "watch-kv",
  prefixed: false,
  queued: false,
  // Checked here (not at decoration), so a mistake fails `create` with the handler's name.
  resolve(options, { name, filter, address, use }) {
    const kv = use(new KvResource(resolveKv(options.bucket, `${name} bucket`), name));
    if (options.initial !== undefined && typeof options.initial !== "boolean") throw new SetupError(`${name} initial`, "must be true or false.");
    const spec: KvWatchSpec = { kv, filter, initial: options.initial ?? true };
    return {
      // Every watcher sees every entry: nothing to share.
      share: undefined,
      doc: { address: `$KV.${kv.name}.${address}`, replies: false, extensions: { "x-natsflow-watch": { kv: kv.name, keys: filter } } },
      open: (binding, { container, metrics }) => new Watcher(binding, kvSource(spec), container, metrics),
    };
  },
};

/** Decodes PUT values with the handler's codec and schema; a DEL or PURGE has no value. The codec also encodes what it `@Publish`es. */
export function kvPayloadStage(declaration: KvDeclaration, options: WatchKvOptions, name: string): { codec: Codec; stage: Middleware } {
  const bucket: Partial<KvOptions> = isKvDeclaration(declaration) ? declaration.options : {};
  const { codec, stage } = resolvePayloadStage(name, { codec: options.codec ?? bucket.codec, schema: options.schema ?? bucket.schema });
  return {
    codec,
    stage: (ctx, next) => {
      if (ctx.get(KV_ENTRY)?.operation === "PUT") return stage(ctx, next);
      ctx.payload = undefined;
      return next();
    },
  };
}

/** A bucket's entries as a watcher sees them: deleted keys left out of the initial values. */
function kvSource(spec: KvWatchSpec): WatchSource<KvEntry> {
  // Entries up to this revision were in the bucket before the watch: the initial values.
  let initialUpTo = 0;
  return {
    async start(accept, onEnd) {
      const bucket = await spec.kv.bucket();
      if (spec.initial) initialUpTo = await bucket.revision();
      return bucket.watch(
        (e) => {
          // A deleted key has no current value to deliver.
          if (e.revision > initialUpTo || e.operation === "put") accept(e);
        },
        { key: spec.filter, initial: spec.initial, onEnd },
      );
    },
    present(entry) {
      const info: KvEntryInfo = {
        bucket: spec.kv.name,
        key: entry.key,
        revision: entry.revision,
        operation: kvOperation(entry),
        created: entry.created,
        initial: entry.revision <= initialUpTo,
      };
      return {
        message: { subject: entry.key, data: entry.value },
        prepare: (ctx) => ctx.set(KV_ENTRY, info),
        log: { bucket: info.bucket, key: info.key, revision: info.revision, operation: info.operation },
      };
    },
  };
}
