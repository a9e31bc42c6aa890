import { createHash } from "node:crypto";

import { NatsflowError, type ObjectChange, type ObjectInfo, type ObjectStoreBucket, type ObjectStoreBucketOptions } from "@natsflow/core";

interface Stored {
  info: ObjectInfo;
  data: Uint8Array;
}

interface Watch {
  onChange: (change: ObjectChange) => void;
  stopped: boolean;
}

/** The digest the object store client records: SHA-256 in base64url, padded, with its prefix. */
function digestOf(data: Uint8Array): string {
  const base64 = createHash("sha256").update(data).digest("base64");
  return `SHA-256=${base64.replaceAll("+", "-").replaceAll("/", "_")}`;
}

async function readAll(data: Uint8Array | ReadableStream<Uint8Array>): Promise<Uint8Array> {
  if (data instanceof Uint8Array) return Uint8Array.from(data);
  const chunks: Uint8Array[] = [];
  for (const reader = data.getReader(); ; ) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
  }
  return Uint8Array.from(Buffer.concat(chunks));
}

/**
 * An object store in memory: named blobs with size, modification time and digest, `ttlMs` and
 * `maxBytes`, and watches that report what is there, then every put and delete in order.
 */
export class MemoryObjectStore implements ObjectStoreBucket {
  private readonly objects = new Map<string, Stored>();
  private readonly watches = new Set<Watch>();

  constructor(
    readonly name: string,
    private readonly options: ObjectStoreBucketOptions,
  ) {}

  /** Objects past `ttlMs` are gone without notice, as on a server. */
  private live(): Map<string, Stored> {
    const { ttlMs } = this.options;
    if (ttlMs !== undefined && ttlMs > 0) {
      const oldest = Date.now() - ttlMs;
      for (const [name, o] of this.objects) if (o.info.modified.getTime() <= oldest) this.objects.delete(name);
    }
    return this.objects;
  }

  private notify(change: ObjectChange): void {
    for (const w of this.watches) queueMicrotask(() => w.stopped || w.onChange(change));
  }

  async put(name: string, data: Uint8Array | ReadableStream<Uint8Array>): Promise<ObjectInfo> {
    const bytes = await readAll(data);
    const { maxBytes } = this.options;
    if (maxBytes !== undefined && maxBytes > 0) {
      const others = [...this.live().values()].reduce((n, o) => n + (o.info.name === name ? 0 : o.data.length), 0);
      if (others + bytes.length > maxBytes) throw new NatsflowError(`object store ${this.name}: maximum bytes exceeded`);
    }
    const info: ObjectInfo = { name, size: bytes.length, modified: new Date(), digest: digestOf(bytes) };
    // A put replaces the object: it moves to the end, as its newest write does on a server.
    this.objects.delete(name);
    this.objects.set(name, { info, data: bytes });
    this.notify({ info, deleted: false, initial: false });
    return info;
  }

  async get(name: string): Promise<Uint8Array | undefined> {
    const o = this.live().get(name);
    return o ? Uint8Array.from(o.data) : undefined;
  }

  async info(name: string): Promise<ObjectInfo | undefined> {
    return this.live().get(name)?.info;
  }

  async delete(name: string): Promise<void> {
    const o = this.live().get(name);
    if (!o) return;
    this.objects.delete(name);
    this.notify({ info: { ...o.info, size: 0, modified: new Date() }, deleted: true, initial: false });
  }

  async list(): Promise<ObjectInfo[]> {
    return [...this.live().values()].map((o) => o.info);
  }

  async watch(onChange: (change: ObjectChange) => void, options: { initial?: boolean; onEnd?: (error: Error | undefined) => void } = {}): Promise<() => void> {
    const watch: Watch = { onChange, stopped: false };
    if (options.initial !== false) {
      for (const o of this.live().values()) {
        const change = { info: o.info, deleted: false, initial: true };
        queueMicrotask(() => watch.stopped || onChange(change));
      }
    }
    this.watches.add(watch);
    return () => {
      watch.stopped = true;
      this.watches.delete(watch);
    };
  }
}
