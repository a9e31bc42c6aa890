import { RevisionMismatchError, type Broker, type KvBucket, type KvEntry, type Logger } from "@natsflow/core";

import { isLocked, isSpent, type FailureRecord, type Timing } from "./failure-policy.js";

/** A pure change to one key's record; a shared store may apply it again on a newer record after a lost write. */
export type Change = (record: FailureRecord | undefined) => FailureRecord | undefined;

/** Told when a change starts a lockout, at most once per change. */
export type OnLockout = (record: FailureRecord) => void;

/** Where failure records live. */
export interface FailureStore {
  /** Local and synchronous: the check before authorizing never waits for the network. */
  get(key: string): FailureRecord | undefined;
  /**
   * Applies at once to what `get` sees; a shared store then writes it through to the others, and
   * reports the lockout from the record as written, so exactly one instance announces it.
   */
  change(key: string, change: Change, onLockout?: OnLockout): FailureRecord | undefined;
}

/** Applies changes in order, telling each one that starts a lockout. */
function replay(record: FailureRecord | undefined, changes: readonly PendingChange[], now: number, announce: boolean): FailureRecord | undefined {
  for (const p of changes) {
    const next = p.change(record);
    if (announce && !p.announced && isLocked(next, now) && !isLocked(record, now)) {
      p.announced = true;
      p.onLockout?.(next!);
    }
    record = next;
  }
  return record;
}

export type Clock = () => number;

// Spent records are swept at most this often; a spray of made-up names cannot grow memory past MAX_KEYS.
const SWEEP_EVERY_MS = 60_000;
const MAX_KEYS = 100_000;

/** A map whose spent entries are swept, and whose oldest entries go first when it grows too large. */
class SweptMap<V> {
  private readonly map = new Map<string, V>();
  private sweptAt: number;

  constructor(
    private readonly spent: (value: V, now: number) => boolean,
    private readonly clock: Clock,
    private readonly maxKeys: number,
  ) {
    this.sweptAt = clock();
  }

  get(key: string): V | undefined {
    return this.map.get(key);
  }

  get size(): number {
    return this.map.size;
  }

  keys(): IterableIterator<string> {
    return this.map.keys();
  }

  set(key: string, value: V | undefined): void {
    this.map.delete(key);
    if (value !== undefined) this.map.set(key, value);
    this.sweep();
  }

  private sweep(): void {
    const now = this.clock();
    if (now - this.sweptAt < SWEEP_EVERY_MS && this.map.size <= this.maxKeys) return;
    this.sweptAt = now;
    for (const [k, v] of this.map) if (this.spent(v, now)) this.map.delete(k);
    // Still too many: evict the least recently written down to 90%, so this is not redone on every write.
    const keep = Math.floor(this.maxKeys * 0.9);
    for (const k of this.map.keys()) {
      if (this.map.size <= keep) break;
      this.map.delete(k);
    }
  }
}

/** Counters of this instance only. */
export class MemoryFailureStore implements FailureStore {
  private readonly records: SweptMap<FailureRecord>;

  constructor(timing: Timing, private readonly clock: Clock = Date.now, maxKeys = MAX_KEYS) {
    this.records = new SweptMap((r, now) => isSpent(r, timing, now), clock, maxKeys);
  }

  get(key: string): FailureRecord | undefined {
    return this.records.get(key);
  }

  change(key: string, change: Change, onLockout?: OnLockout): FailureRecord | undefined {
    const next = replay(this.records.get(key), [{ change, ...(onLockout ? { onLockout } : {}) }], this.clock(), true);
    this.records.set(key, next);
    return next;
  }

  get size(): number {
    return this.records.size;
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function encode(record: FailureRecord | undefined): Uint8Array {
  return encoder.encode(JSON.stringify({ f: record?.failures ?? [], u: record?.lockedUntil ?? 0 }));
}

/** A value another writer left; anything malformed counts as no record rather than breaking the watch. */
function decode(value: Uint8Array): FailureRecord | undefined {
  try {
    const v = JSON.parse(decoder.decode(value)) as { f?: unknown; u?: unknown };
    if (!Array.isArray(v.f) || !v.f.every((t) => typeof t === "number") || typeof v.u !== "number") return undefined;
    // A reset is written as an empty record (a compare-and-set write, which a delete in the seam is not always).
    return v.f.length === 0 && v.u === 0 ? undefined : { failures: v.f as number[], lockedUntil: v.u };
  } catch {
    return undefined;
  }
}

interface Remote {
  record: FailureRecord | undefined;
  revision: number;
}

interface PendingChange {
  change: Change;
  onLockout?: OnLockout;
  announced?: boolean;
  /** The revision that holds it, once written. */
  revision?: number;
}

const MAX_WRITE_TRIES = 5;
const REOPEN_AFTER_MS = 5_000;

export interface KvFailureStoreOptions {
  bucket: string;
  timing: Timing;
  broker: Broker;
  logger: Logger;
  clock?: Clock;
  maxKeys?: number;
}

/**
 * Counters shared by every instance through a JetStream KV bucket. Reads come from a local mirror
 * fed by a watch of the bucket; a change applies locally at once and is written with
 * compare-and-set on the key's revision, re-applied to the newer record when another instance won
 * the race. What `get` sees is the mirror with this instance's unconfirmed changes on top, so a
 * store that cannot reach the bucket keeps enforcing locally: it never grants because of an error.
 */
export class KvFailureStore implements FailureStore {
  private readonly view: SweptMap<FailureRecord>;
  private readonly remote: SweptMap<Remote>;
  private readonly pending = new Map<string, PendingChange[]>();
  private readonly writing = new Set<string>();
  private readonly clock: Clock;
  private bucket: KvBucket | undefined;
  private opening = false;
  private reopenAt = 0;
  private degraded = false;

  constructor(private readonly options: KvFailureStoreOptions) {
    const { timing } = options;
    this.clock = options.clock ?? Date.now;
    const maxKeys = options.maxKeys ?? MAX_KEYS;
    this.view = new SweptMap((r, now) => isSpent(r, timing, now), this.clock, maxKeys);
    this.remote = new SweptMap((r, now) => !r.record || isSpent(r.record, timing, now), this.clock, maxKeys);
  }

  get(key: string): FailureRecord | undefined {
    if (!this.bucket) this.open();
    return this.view.get(key);
  }

  change(key: string, change: Change, onLockout?: OnLockout): FailureRecord | undefined {
    const pending: PendingChange = { change, ...(onLockout ? { onLockout } : {}) };
    // The lockout is announced when the write lands, from the record as written; or below, if it cannot.
    const next = replay(this.view.get(key), [pending], this.clock(), false);
    this.view.set(key, next);
    let queue = this.pending.get(key);
    if (!queue) this.pending.set(key, (queue = []));
    queue.push(pending);
    this.trimPending();
    if (this.bucket) {
      void this.write(key);
    } else {
      if (this.degraded) this.announceUnwritten(key);
      this.open();
    }
    return next;
  }

  /** Opens the bucket (lazily: the connection exists only once the app has started) and mirrors it. */
  private open(): void {
    if (this.opening || this.clock() < this.reopenAt) return;
    this.opening = true;
    void (async () => {
      try {
        const { bucket: name, timing, broker } = this.options;
        // Keys outlive nothing that matters: a window of failures, then a lockout.
        const bucket = await broker.kv(name, { ttlMs: timing.windowMs + timing.lockoutMs });
        await bucket.watch((e) => this.onEntry(e), { onEnd: (err) => this.lost(err) });
        this.bucket = bucket;
        this.recovered();
        for (const key of this.pending.keys()) void this.write(key);
      } catch (e) {
        this.unavailable(e);
      } finally {
        this.opening = false;
      }
    })();
  }

  private lost(error: Error | undefined): void {
    this.bucket = undefined;
    // A watch ends quietly when the connection drains at shutdown; only an error is news.
    if (error) this.unavailable(error);
  }

  private recovered(): void {
    if (this.degraded) this.options.logger.info({ bucket: this.options.bucket }, "auth callout: failure counters shared again");
    this.degraded = false;
  }

  /** Lockouts this instance enforces but cannot write — that key's, or all — are still announced, from its own view. */
  private announceUnwritten(key?: string): void {
    const now = this.clock();
    const announce = (k: string, queue: PendingChange[]) => replay(this.remote.get(k)?.record, queue, now, true);
    if (key === undefined) for (const [k, queue] of this.pending) announce(k, queue);
    else announce(key, this.pending.get(key) ?? []);
  }

  /** Warns once per outage, and retries the bucket a few seconds later. */
  private unavailable(error: unknown, key?: string): void {
    this.reopenAt = this.clock() + REOPEN_AFTER_MS;
    this.announceUnwritten(key);
    if (this.degraded) return;
    this.degraded = true;
    this.options.logger.warn(
      { bucket: this.options.bucket, err: error },
      "auth callout: failure counters cannot be shared (KV bucket unavailable); enforcing this instance's counts",
    );
  }

  private onEntry(entry: KvEntry): void {
    const known = this.remote.get(entry.key);
    if (known && known.revision >= entry.revision) return;
    this.remote.set(entry.key, { record: entry.operation === "put" ? decode(entry.value) : undefined, revision: entry.revision });
    this.refresh(entry.key);
  }

  /** The view of a key: the mirror, with the changes it does not hold yet applied on top. */
  private refresh(key: string): void {
    const base = this.remote.get(key);
    let queue = this.pending.get(key);
    if (queue && base) {
      queue = queue.filter((p) => p.revision === undefined || p.revision > base.revision);
      if (queue.length === 0) this.pending.delete(key);
      else this.pending.set(key, queue);
    }
    this.view.set(key, replay(base?.record, queue ?? [], this.clock(), false));
  }

  /** One writer per key at a time; changes that arrive meanwhile go in its next round. */
  private async write(key: string): Promise<void> {
    const bucket = this.bucket;
    if (!bucket || this.writing.has(key)) return;
    this.writing.add(key);
    try {
      for (let tries = 0; ; ) {
        const changes = (this.pending.get(key) ?? []).filter((p) => p.revision === undefined);
        if (changes.length === 0) return;
        const base = this.remote.get(key);
        const next = replay(base?.record, changes, this.clock(), false);
        try {
          const revision = base ? await bucket.update(key, encode(next), base.revision) : await bucket.create(key, encode(next));
          replay(base?.record, changes, this.clock(), true);
          for (const p of changes) p.revision = revision;
          this.onEntry({ key, value: encode(next), revision, operation: "put", created: new Date() });
          this.refresh(key);
          this.recovered();
        } catch (e) {
          if (!(e instanceof RevisionMismatchError) || ++tries >= MAX_WRITE_TRIES) throw e;
          // Someone else wrote first: start again from the record as it is now.
          const fresh = await bucket.get(key);
          this.remote.set(key, fresh ? { record: decode(fresh.value), revision: fresh.revision } : undefined);
        }
      }
    } catch (e) {
      this.unavailable(e, key);
    } finally {
      this.writing.delete(key);
    }
  }

  /** Changes that could not be written are kept, but not without bound while the bucket is away. */
  private trimPending(): void {
    const max = this.options.maxKeys ?? MAX_KEYS;
    for (const key of this.pending.keys()) {
      if (this.pending.size <= max) break;
      if (!this.writing.has(key)) this.pending.delete(key);
    }
  }
}
