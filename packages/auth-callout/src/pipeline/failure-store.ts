import { RevisionMismatchError, type Broker, type KvBucket, type KvEntry, type Logger } from "@natsflow/core";

import { isLocked, isSpent, stricter, type FailureRecord, type Timing } from "./failure-policy.js";

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

/** A spent record is no record: what `get` answers. */
function live(record: FailureRecord | undefined, timing: Timing, now: number): FailureRecord | undefined {
  return record && !isSpent(record, timing, now) ? record : undefined;
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

// Spent records are swept at most this often, or each second while the map is full.
const SWEEP_EVERY_MS = 60_000;
const FULL_SWEEP_EVERY_MS = 1000;
const MAX_KEYS = 100_000;
// Keys that find the map full share one of these per kind (the key's first letter), chosen by a hash.
const OVERFLOW_SLOTS = 1024;

/** FNV-1a: spreads keys over the overflow slots. Who can aim at a slot can as well aim at its keys. */
function slotOf(key: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return `${key.charAt(0)}${(h >>> 0) % OVERFLOW_SLOTS}`;
}

/**
 * A bounded map that never forgets a value that still matters: spent values are swept, and when it
 * is full of live ones a new key is not stored. With `fold`, such a key's value is folded into an
 * overflow slot it shares with other keys that found the map full, and `get` answers from the slot;
 * without, it is dropped (for values that can be fetched again).
 */
class BoundedMap<V> {
  private readonly map = new Map<string, V>();
  private readonly slots = new Map<string, V>();
  private sweptAt: number;

  constructor(
    private readonly spent: (value: V, now: number) => boolean,
    private readonly clock: Clock,
    private readonly maxKeys: number,
    private readonly fold?: (slot: V, value: V, now: number) => V,
  ) {
    this.sweptAt = clock();
  }

  /** The key's own value, or else its overflow slot's. */
  get(key: string): V | undefined {
    return this.map.get(key) ?? (this.slots.size > 0 ? this.slots.get(slotOf(key)) : undefined);
  }

  get size(): number {
    return this.map.size;
  }

  /** `undefined` removes the key's own value; a slot is only ever swept, as a key cannot speak for the others in it. */
  set(key: string, value: V | undefined): void {
    const now = this.clock();
    if (now - this.sweptAt >= SWEEP_EVERY_MS) this.sweep(now);
    if (value === undefined) {
      this.map.delete(key);
      return;
    }
    if (this.map.size >= this.maxKeys && !this.map.has(key)) {
      if (now - this.sweptAt >= FULL_SWEEP_EVERY_MS) this.sweep(now);
      if (this.map.size >= this.maxKeys) {
        if (!this.fold) return;
        const slot = slotOf(key);
        const held = this.slots.get(slot);
        this.slots.set(slot, held === undefined ? value : this.fold(held, value, now));
        return;
      }
    }
    this.map.set(key, value);
  }

  private sweep(now: number): void {
    this.sweptAt = now;
    for (const m of [this.map, this.slots]) for (const [k, v] of m) if (this.spent(v, now)) m.delete(k);
  }
}

/** Counters of this instance only. */
export class MemoryFailureStore implements FailureStore {
  private readonly records: BoundedMap<FailureRecord>;

  constructor(private readonly timing: Timing, private readonly clock: Clock = Date.now, maxKeys = MAX_KEYS) {
    this.records = new BoundedMap((r, now) => isSpent(r, timing, now), clock, maxKeys, (a, b, now) => stricter(a, b, timing, now));
  }

  get(key: string): FailureRecord | undefined {
    return live(this.records.get(key), this.timing, this.clock());
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

const isTime = (t: unknown): t is number => typeof t === "number" && Number.isFinite(t) && t >= 0;

/** A value as any writer to the bucket may have left it: `null` when it is not a record at all. */
function decode(value: Uint8Array): FailureRecord | null {
  try {
    const v = JSON.parse(decoder.decode(value)) as { f?: unknown; u?: unknown } | null;
    if (!v || !Array.isArray(v.f) || !v.f.every(isTime) || !isTime(v.u)) return null;
    return { failures: v.f, lockedUntil: v.u };
  } catch {
    return null;
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
// Unwritten changes are tried again every REOPEN_AFTER_MS for about a minute; after that, on the next change.
const MAX_RETRIES = 12;
// Clocks a little apart are normal; only records further in the future are worth a warning.
const CLOCK_SKEW_MS = 5_000;
const DISTRUST_WARN_EVERY_MS = 60_000;

export interface KvFailureStoreOptions {
  bucket: string;
  /** Copies of the bucket when it is made. Default 1. */
  replicas?: number;
  timing: Timing;
  broker: Broker;
  logger: Logger;
  clock?: Clock;
  maxKeys?: number;
  /** Failures a record read from the bucket may hold (the largest budget); the latest are kept. Default 1000. */
  maxFailures?: number;
}

/**
 * Counters shared by every instance through a JetStream KV bucket. Reads come from a local mirror
 * fed by a watch of the bucket; a change applies locally at once and is written with
 * compare-and-set on the key's revision, re-applied to the newer record when another instance won
 * the race. What `get` sees is the mirror with this instance's unconfirmed changes on top, so a
 * store that cannot reach the bucket keeps enforcing locally: it never grants because of an error.
 */
export class KvFailureStore implements FailureStore {
  private readonly view: BoundedMap<FailureRecord>;
  private readonly remote: BoundedMap<Remote>;
  private readonly pending = new Map<string, PendingChange[]>();
  private readonly writing = new Set<string>();
  private readonly clock: Clock;
  private bucket: KvBucket | undefined;
  private opening = false;
  private reopenAt = 0;
  private degraded = false;
  private distrustWarnedAt = -Infinity;
  private distrustUnreported = 0;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private retries = 0;

  constructor(private readonly options: KvFailureStoreOptions) {
    const { timing } = options;
    this.clock = options.clock ?? Date.now;
    const maxKeys = options.maxKeys ?? MAX_KEYS;
    this.view = new BoundedMap((r, now) => isSpent(r, timing, now), this.clock, maxKeys, (a, b, now) => stricter(a, b, timing, now));
    // A key the mirror has no room for is fetched when it is written.
    this.remote = new BoundedMap((r, now) => !r.record || isSpent(r.record, timing, now), this.clock, maxKeys);
  }

  get(key: string): FailureRecord | undefined {
    if (!this.bucket) this.open();
    return live(this.view.get(key), this.options.timing, this.clock());
  }

  change(key: string, change: Change, onLockout?: OnLockout): FailureRecord | undefined {
    const pending: PendingChange = { change, ...(onLockout ? { onLockout } : {}) };
    // The lockout is announced when the write lands, from the record as written; or below, if it cannot.
    const next = replay(this.view.get(key), [pending], this.clock(), false);
    this.view.set(key, next);
    let queue = this.pending.get(key);
    if (!queue) this.pending.set(key, (queue = []));
    queue.push(pending);
    if (this.bucket) {
      void this.write(key);
    } else {
      // Only changes that wait for the bucket are trimmed: one being written is on its way.
      this.trimPending();
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
        const { bucket: name, timing, broker, replicas = 1 } = this.options;
        // Keys outlive nothing that matters: a window of failures, then a lockout.
        const bucket = await broker.kv(name, { ttlMs: timing.windowMs + timing.lockoutMs, replicas });
        await bucket.watch((e) => this.onEntry(e), { onEnd: (err) => this.lost(err) });
        this.bucket = bucket;
        this.recovered();
        this.flush();
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
    this.retries = 0;
    if (!this.degraded) return;
    this.options.logger.info({ bucket: this.options.bucket }, "auth callout: failure counters shared again");
    this.degraded = false;
    // Changes to other keys that failed meanwhile (a leader election, say) are not left waiting for their next change.
    this.flush();
  }

  /** Writes every change not written yet, opening the bucket first if it is not open. */
  private flush(): void {
    if (!this.bucket) return this.open();
    for (const key of this.pending.keys()) void this.write(key);
  }

  /** One timer at a time, not holding the process open. */
  private retryLater(): void {
    if (this.retryTimer || this.pending.size === 0 || this.retries >= MAX_RETRIES) return;
    this.retries++;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.flush();
    }, REOPEN_AFTER_MS);
    this.retryTimer.unref?.();
  }

  /** Lockouts this instance enforces but cannot write — that key's, or all — are still announced, from its own view. */
  private announceUnwritten(key?: string): void {
    const now = this.clock();
    const announce = (k: string, queue: PendingChange[]) => replay(this.remote.get(k)?.record, queue, now, true);
    if (key === undefined) for (const [k, queue] of this.pending) announce(k, queue);
    else announce(key, this.pending.get(key) ?? []);
  }

  /** Warns once per outage, and retries the bucket, and the changes not written, a few seconds later. */
  private unavailable(error: unknown, key?: string): void {
    this.reopenAt = this.clock() + REOPEN_AFTER_MS;
    this.announceUnwritten(key);
    this.retryLater();
    if (this.degraded) return;
    this.degraded = true;
    this.options.logger.warn(
      { bucket: this.options.bucket, err: error },
      "auth callout: failure counters cannot be shared (KV bucket unavailable); enforcing this instance's counts",
    );
  }

  /** Mirrors an entry unless a newer one is known; returns what is known. */
  private onEntry(entry: KvEntry): Remote {
    const known = this.remote.get(entry.key);
    if (known && known.revision >= entry.revision) return known;
    const remote = { record: this.read(entry), revision: entry.revision };
    this.remote.set(entry.key, remote);
    this.refresh(entry.key, remote);
    return remote;
  }

  /**
   * A record as trusted: nothing in it later than when it was written (the server's time, or now if
   * that is earlier), so a lock ends at most `lockoutMs` after it and failures leave the window, and
   * the entry is spent by the time the bucket's TTL removes it. Anything else in the bucket was not
   * written by an instance: a malformed value counts as no record, and both are reported.
   */
  private read(entry: KvEntry): FailureRecord | undefined {
    if (entry.operation !== "put") return undefined;
    const record = decode(entry.value);
    if (!record) {
      this.distrust(entry.key, "malformed");
      return undefined;
    }
    // A reset is written as an empty record (a compare-and-set write, which a delete in the seam is not always).
    if (record.failures.length === 0 && record.lockedUntil === 0) return undefined;
    const { timing, maxFailures = 1000 } = this.options;
    const stored = entry.created.getTime();
    const writtenAt = Number.isFinite(stored) ? Math.min(this.clock(), stored) : this.clock();
    const lockBound = writtenAt + timing.lockoutMs;
    if (record.lockedUntil > lockBound + CLOCK_SKEW_MS || record.failures.some((t) => t > writtenAt + CLOCK_SKEW_MS)) {
      this.distrust(entry.key, "from the future");
    }
    const failures = record.failures.map((t) => Math.min(t, writtenAt)).sort((a, b) => a - b).slice(-maxFailures);
    return { failures, lockedUntil: Math.min(record.lockedUntil, lockBound) };
  }

  /** Another writer to the bucket, or a clock far off: a warning, at most once a minute. */
  private distrust(key: string, problem: string): void {
    this.distrustUnreported++;
    const now = this.clock();
    if (now - this.distrustWarnedAt < DISTRUST_WARN_EVERY_MS) return;
    this.options.logger.warn(
      { bucket: this.options.bucket, key, problem, records: this.distrustUnreported },
      "auth callout: a failure record in the KV bucket was not written by an instance (or its clock is off); malformed ones are ignored, later times taken as the time it was written",
    );
    this.distrustWarnedAt = now;
    this.distrustUnreported = 0;
  }

  /** The view of a key: the mirror, with the changes it does not hold yet applied on top. */
  private refresh(key: string, base: Remote | undefined): void {
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
    // What the bucket held when a write lost, for a key the mirror has no room for.
    let fetched: Remote | undefined;
    try {
      for (let tries = 0; ; ) {
        const changes = (this.pending.get(key) ?? []).filter((p) => p.revision === undefined);
        if (changes.length === 0) return;
        const known = this.remote.get(key);
        const base = fetched && (!known || fetched.revision > known.revision) ? fetched : known;
        const next = replay(base?.record, changes, this.clock(), false);
        try {
          const revision = base ? await bucket.update(key, encode(next), base.revision) : await bucket.create(key, encode(next));
          replay(base?.record, changes, this.clock(), true);
          for (const p of changes) p.revision = revision;
          // The mirror may hold it already (the watch was faster) or have no room for it: refresh from what is known.
          this.refresh(key, this.onEntry({ key, value: encode(next), revision, operation: "put", created: new Date() }));
          this.recovered();
        } catch (e) {
          if (!(e instanceof RevisionMismatchError) || ++tries >= MAX_WRITE_TRIES) throw e;
          // Someone else wrote first: start again from the record as it is now.
          const fresh = await bucket.get(key);
          fetched = fresh && { record: this.read(fresh), revision: fresh.revision };
          this.remote.set(key, fetched);
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
