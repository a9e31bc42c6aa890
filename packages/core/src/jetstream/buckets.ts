import { NatsflowError } from "../errors.js";
import type { Logger } from "../logging/logger.js";
import type { KvBucket, ObjectStoreBucket, StreamConfig, Transport } from "../transport/transport.js";
import { KvHandle, resolveKv, type KvDeclaration, type ResolvedKv } from "./kv.js";
import { ObjectStoreHandle, resolveObjectStore, type ObjectStoreDeclaration, type ResolvedObjectStore } from "./object-store.js";
import { distinctByName, drift, refuseDrift } from "./stream.js";

// How the bucket options are called on the streams behind them, for drift messages.
const LABELS: Partial<Record<keyof StreamConfig, string>> = { maxMsgsPerSubject: "history", maxAgeMs: "ttl" };

/**
 * Creates the bucket's stream when missing (through `open`); an existing one must match what is
 * declared, or is updated with `update: true`.
 */
async function ensureBucket<B>(
  transport: Transport,
  what: string,
  stream: string,
  spec: { declared: Partial<StreamConfig>; update: boolean },
  open: () => Promise<B>,
  logger: Logger,
): Promise<B> {
  const js = transport.jetstream();
  const existing = await js.streamInfo(stream);
  if (existing) {
    const diffs = drift(existing, spec.declared);
    if (diffs.length > 0) {
      if (!spec.update) refuseDrift(what, diffs, "declare what the server has, or pass update: true to update it at start.", (f) => LABELS[f] ?? f);
      const next = { ...existing, ...spec.declared };
      // The server refuses a duplicate window longer than the new max age.
      if (next.maxAgeMs > 0) next.duplicateWindowMs = Math.min(next.duplicateWindowMs, next.maxAgeMs);
      await js.updateStream(next);
      logger.info({ bucket: what, changed: diffs.map((d) => LABELS[d.field] ?? d.field) }, "bucket updated");
    }
  }
  const bucket = await open();
  if (!existing) logger.info({ bucket: what }, "bucket created");
  return bucket;
}

interface Slot<R, H, B> {
  readonly user: string;
  readonly resolved: R;
  readonly handle: H;
  bucket?: B;
}

/**
 * One app's buckets: the handles its classes were given (made on first injection, at `create`) and
 * the buckets its watchers read, all set up at `start()` and closed at `stop()`.
 */
export class BucketRegistry {
  private readonly kvs = new Map<string, Slot<ResolvedKv, KvHandle, KvBucket>>();
  private readonly stores = new Map<string, Slot<ResolvedObjectStore, ObjectStoreHandle, ObjectStoreBucket>>();
  private open = false;

  /** The declaration's handle; `user` says who asked, for conflicting declarations. */
  kv<T>(declaration: KvDeclaration<T>, user = "@InjectKv"): KvHandle<T> {
    return this.addKv(resolveKv(declaration, `${user} bucket`), user) as KvHandle<T>;
  }

  /** A bucket the app uses (a watcher's, say), set up at start like the injected ones. */
  addKv(resolved: ResolvedKv, user: string): KvHandle {
    let slot = this.kvs.get(resolved.bucket);
    if (!slot) {
      const made: Slot<ResolvedKv, KvHandle, KvBucket> = {
        user,
        resolved,
        handle: new KvHandle(resolved, () => made.bucket ?? this.closed(`kv ${resolved.bucket}`)),
      };
      this.kvs.set(resolved.bucket, (slot = made));
    } else distinctByName("kv bucket", [{ ...slot, name: resolved.bucket }, { user, name: resolved.bucket, resolved }]);
    return slot.handle;
  }

  objectStore(declaration: ObjectStoreDeclaration, user = "@InjectObjectStore"): ObjectStoreHandle {
    const resolved = resolveObjectStore(declaration, `${user} store`);
    let slot = this.stores.get(resolved.bucket);
    if (!slot) {
      const made: Slot<ResolvedObjectStore, ObjectStoreHandle, ObjectStoreBucket> = {
        user,
        resolved,
        handle: new ObjectStoreHandle(resolved.bucket, () => made.bucket ?? this.closed(`object store ${resolved.bucket}`)),
      };
      this.stores.set(resolved.bucket, (slot = made));
    } else distinctByName("object store", [{ ...slot, name: resolved.bucket }, { user, name: resolved.bucket, resolved }]);
    return slot.handle;
  }

  /** The bucket behind a handle, once open. */
  kvBucket(name: string): KvBucket {
    return this.kvs.get(name)?.bucket ?? this.closed(`kv ${name}`);
  }

  private closed(what: string): never {
    throw new NatsflowError(`${what} is not open: ${this.open ? "it could not be set up" : "buckets are set up by app.start() and closed by app.stop()"}`);
  }

  /** Creates or verifies every bucket; drift fails with a `SetupError` naming the field. */
  async start(transport: Transport, logger: Logger): Promise<void> {
    this.open = true;
    for (const slot of this.kvs.values()) {
      const { bucket } = slot.resolved;
      slot.bucket = await ensureBucket(transport, `kv ${bucket}`, `KV_${bucket}`, slot.resolved, () => transport.kv(bucket, slot.resolved.create), logger);
    }
    for (const slot of this.stores.values()) {
      const { bucket } = slot.resolved;
      slot.bucket = await ensureBucket(transport, `object store ${bucket}`, `OBJ_${bucket}`, slot.resolved, () => transport.objectStore(bucket, slot.resolved.create), logger);
    }
  }

  get isEmpty(): boolean {
    return this.kvs.size === 0 && this.stores.size === 0;
  }

  /** Handles throw a clear error from now on instead of reaching a closed connection. */
  stop(): void {
    this.open = false;
    for (const slot of [...this.kvs.values(), ...this.stores.values()]) delete slot.bucket;
  }
}
