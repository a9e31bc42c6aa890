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
  bucket?: Promise<B>;
}

/**
 * One app's buckets: the handles its classes were given (made on first injection, mostly at
 * `create`) and the buckets its watchers read, set up at `start()` and closed at `stop()`.
 */
export class BucketRegistry {
  private readonly kvs = new Map<string, Slot<ResolvedKv, KvHandle, KvBucket>>();
  private readonly stores = new Map<string, Slot<ResolvedObjectStore, ObjectStoreHandle, ObjectStoreBucket>>();
  private running: { transport: Transport; logger: Logger } | undefined;

  /** The declaration's handle; `user` says who asked, for conflicting declarations. */
  kv<T>(declaration: KvDeclaration<T>, user = "@InjectKv"): KvHandle<T> {
    return this.addKv(resolveKv(declaration, `${user} bucket`), user) as KvHandle<T>;
  }

  /** A bucket the app uses (a watcher's, say), set up at start like the injected ones. */
  addKv(resolved: ResolvedKv, user: string): KvHandle {
    let slot = this.kvs.get(resolved.bucket);
    if (!slot) {
      const made: Slot<ResolvedKv, KvHandle, KvBucket> = { user, resolved, handle: new KvHandle(resolved, () => this.openKv(made)) };
      this.kvs.set(resolved.bucket, (slot = made));
    } else distinctByName("kv bucket", [{ ...slot, name: resolved.bucket }, { user, name: resolved.bucket, resolved }]);
    return slot.handle;
  }

  objectStore(declaration: ObjectStoreDeclaration, user = "@InjectObjectStore"): ObjectStoreHandle {
    return this.addStore(resolveObjectStore(declaration, `${user} store`), user);
  }

  /** A store the app uses (a watcher's, say), set up at start like the injected ones. */
  addStore(resolved: ResolvedObjectStore, user: string): ObjectStoreHandle {
    let slot = this.stores.get(resolved.bucket);
    if (!slot) {
      const made: Slot<ResolvedObjectStore, ObjectStoreHandle, ObjectStoreBucket> = {
        user,
        resolved,
        handle: new ObjectStoreHandle(resolved.bucket, () => this.openStore(made)),
      };
      this.stores.set(resolved.bucket, (slot = made));
    } else distinctByName("object store", [{ ...slot, name: resolved.bucket }, { user, name: resolved.bucket, resolved }]);
    return slot.handle;
  }

  /** The store behind a watcher, set up by `start()`. */
  storeBucket(name: string): Promise<ObjectStoreBucket> {
    const slot = this.stores.get(name);
    return slot ? this.openStore(slot) : Promise.reject(new NatsflowError(`object store ${name} is not used by this app`));
  }

  /** The bucket behind a watcher, set up by `start()`. */
  kvBucket(name: string): Promise<KvBucket> {
    const slot = this.kvs.get(name);
    return slot ? this.openKv(slot) : Promise.reject(new NatsflowError(`kv ${name} is not used by this app`));
  }

  // A handle first asked for after start (by a message-scoped provider, say) is set up on first use.
  private openKv(slot: Slot<ResolvedKv, unknown, KvBucket>): Promise<KvBucket> {
    const { bucket } = slot.resolved;
    return this.open(slot, `kv ${bucket}`, `KV_${bucket}`, (t) => t.kv(bucket, slot.resolved.create));
  }

  private openStore(slot: Slot<ResolvedObjectStore, unknown, ObjectStoreBucket>): Promise<ObjectStoreBucket> {
    const { bucket } = slot.resolved;
    return this.open(slot, `object store ${bucket}`, `OBJ_${bucket}`, (t) => t.objectStore(bucket, slot.resolved.create));
  }

  private open<B>(slot: Slot<ResolvedKv | ResolvedObjectStore, unknown, B>, what: string, stream: string, open: (t: Transport) => Promise<B>): Promise<B> {
    const running = this.running;
    if (!running) return Promise.reject(new NatsflowError(`${what} is not open: buckets are set up by app.start() and closed by app.stop()`));
    return (slot.bucket ??= ensureBucket(running.transport, what, stream, slot.resolved, () => open(running.transport), running.logger));
  }

  /** Creates or verifies every bucket; drift fails with a `SetupError` naming the field. */
  async start(transport: Transport, logger: Logger): Promise<void> {
    this.running = { transport, logger };
    for (const slot of this.kvs.values()) await this.openKv(slot);
    for (const slot of this.stores.values()) await this.openStore(slot);
  }

  get isEmpty(): boolean {
    return this.kvs.size === 0 && this.stores.size === 0;
  }

  /** Handles reject with a clear error from now on instead of reaching a closed connection. */
  stop(): void {
    this.running = undefined;
    for (const slot of [...this.kvs.values(), ...this.stores.values()]) delete slot.bucket;
  }
}
