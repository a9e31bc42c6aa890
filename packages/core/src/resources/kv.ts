import { container as rootContainer, type InjectionToken } from "tsyringe";

import { resolveCodec, type Codec, type CodecOption } from "../codec/codec.js";
import { RESOURCES } from "../di/tokens.js";
import { parseDuration, type Duration } from "../duration.js";
import { SetupError } from "../errors.js";
import { isValidBucketName } from "../subjects.js";
import type { KvBucket, KvBucketOptions, KvEntry, Transport } from "../transport/transport.js";
import { isStandardSchema, validate, type StandardSchemaV1 } from "../validation/standard-schema.js";
import { BucketResource, type ResolvedBucket } from "./bucket.js";
import type { ResourceRegistry } from "./resource.js";
import { limit, replicaCount, STORAGE } from "./stream.js";

export interface KvOptions<T = unknown> {
  /** Letters, digits, `-` and `_`. The bucket is the stream `KV_<bucket>`. */
  bucket: string;
  /** Values kept per key, 1 to 64. Default 1. */
  history?: number;
  /** Keys expire this long after their last write. Default: never. */
  ttl?: Duration;
  /** Default unlimited. */
  maxBytes?: number;
  /** Default "file". */
  storage?: "file" | "memory";
  /** Copies kept in a JetStream cluster, 1 to 5. Default 1. Changed on the server with `update: true`. */
  replicas?: number;
  /** Update an existing bucket whose settings differ instead of failing `start`. Default false. */
  update?: boolean;
  /** How values are encoded: "json" (default), "string", "bytes", or your own. */
  codec?: CodecOption;
  /** A Standard Schema every value written through a handle, and read or watched, must satisfy. */
  schema?: StandardSchemaV1<unknown, T>;
}

const DECLARATION = Symbol("natsflow:kv");

/** A key-value bucket; created at `start()` when missing, verified when present. `T` is its values' type. */
export interface KvDeclaration<T = unknown> {
  readonly [DECLARATION]: true;
  readonly options: Readonly<KvOptions<T>>;
  /** Injects the bucket's `KvHandle` (see `@InjectKv`). */
  readonly token: InjectionToken<KvHandle<T>>;
}

/**
 * Declares a bucket. Checked when an app using it is created, made or verified at `start()`, and
 * injectable anywhere as a `KvHandle` through `@InjectKv(declaration)`.
 */
export function defineKv<T = unknown>(options: KvOptions<T>): KvDeclaration<T> {
  const token = Symbol(`natsflow:kv:${String(options.bucket)}`) as InjectionToken<KvHandle<T>>;
  const declaration: KvDeclaration<T> = Object.freeze({ [DECLARATION]: true as const, options: Object.freeze({ ...options }), token });
  // In the root container, so every app (a child of it) resolves the token to its own handle.
  rootContainer.register(token, {
    useFactory: (c) => c.resolve<ResourceRegistry>(RESOURCES).use(new KvResource(resolveKv(declaration, "@InjectKv bucket"), "@InjectKv")).handle as KvHandle<T>,
  });
  return declaration;
}

export function isKvDeclaration(value: unknown): value is KvDeclaration {
  return typeof value === "object" && value !== null && DECLARATION in value;
}

export interface ResolvedKv extends ResolvedBucket {
  /** How the bucket is created when missing. */
  readonly create: KvBucketOptions;
  readonly codec: Codec;
  readonly schema: StandardSchemaV1 | undefined;
}

/** Every `defineKv` option is checked here, once, with `SetupError`s naming the setting. */
export function resolveKv(declaration: unknown, where: string): ResolvedKv {
  if (!isKvDeclaration(declaration)) throw new SetupError(where, "is not a key-value bucket declaration.", "pass the result of defineKv({ bucket }).");
  const o = declaration.options;
  if (!isValidBucketName(o.bucket)) {
    throw new SetupError(where, `${JSON.stringify(o.bucket)} is not a valid bucket name.`, "use letters, digits, - and _.");
  }
  const at = `kv ${o.bucket}`;
  const history = o.history ?? 1;
  if (!Number.isInteger(history) || history < 1 || history > 64) throw new SetupError(`${at} history`, `must be a whole number from 1 to 64, got ${String(history)}.`);
  const storage = o.storage ?? "file";
  if (!STORAGE.includes(storage)) throw new SetupError(`${at} storage`, `must be one of ${STORAGE.join(", ")}.`);
  if (o.update !== undefined && typeof o.update !== "boolean") throw new SetupError(`${at} update`, "must be true or false.");
  if (o.schema !== undefined && !isStandardSchema(o.schema)) throw new SetupError(`${at} schema`, "is not a Standard Schema.");
  const ttlMs = parseDuration(`${at} ttl`, o.ttl ?? 0);
  const maxBytes = limit(`${at} maxBytes`, o.maxBytes, -1);
  const replicas = replicaCount(`${at} replicas`, o.replicas);
  return {
    bucket: o.bucket,
    create: { history, maxBytes, storage, replicas, ...(ttlMs > 0 ? { ttlMs } : {}) },
    declared: { maxMsgsPerSubject: history, maxAgeMs: ttlMs, maxBytes, storage, replicas },
    update: o.update === true,
    codec: resolveCodec(o.codec, `${at} codec`),
    schema: o.schema,
  };
}

/** A KV bucket an app uses, through handles and watchers: its one `KvHandle` and the open bucket. */
export class KvResource extends BucketResource<ResolvedKv, KvBucket> {
  readonly kind = "kv bucket";
  readonly handle = new KvHandle(this.declared, () => this.bucket());

  protected get label(): string {
    return `kv ${this.name}`;
  }

  protected get stream(): string {
    return `KV_${this.name}`;
  }

  protected open(transport: Transport): Promise<KvBucket> {
    return transport.kv(this.name, this.declared.create);
  }
}

/** A key's current value, decoded. */
export interface KvValue<T> {
  readonly value: T;
  readonly revision: number;
  readonly created: Date;
}

/** One change, decoded: `value` is undefined for "DEL" and "PURGE". */
export interface KvChange<T> {
  readonly key: string;
  readonly value: T | undefined;
  readonly revision: number;
  readonly operation: KvOperation;
  readonly created: Date;
  /** True for the current values delivered before the live changes. */
  readonly initial: boolean;
}

export type KvOperation = "PUT" | "DEL" | "PURGE";

const OPERATIONS = { put: "PUT", delete: "DEL", purge: "PURGE" } as const;

export function kvOperation(entry: KvEntry): KvOperation {
  return OPERATIONS[entry.operation];
}

/**
 * A typed key-value bucket: values are encoded with the declaration's codec and checked against its
 * schema on the way in and out. Open from `start()`; writes that name a revision throw
 * `RevisionMismatchError` when someone else wrote the key first.
 */
export class KvHandle<T = unknown> {
  /** @internal made by the app for each declaration it is asked for */
  constructor(
    private readonly kv: ResolvedKv,
    private readonly bucket: () => Promise<KvBucket>,
  ) {}

  get name(): string {
    return this.kv.bucket;
  }

  /** Decodes (and validates) stored bytes. */
  async decode(data: Uint8Array): Promise<T> {
    const value = this.kv.codec.decode(data);
    return (this.kv.schema ? await validate(this.kv.schema, value) : value) as T;
  }

  private async encode(value: T): Promise<Uint8Array> {
    return this.kv.codec.encode(this.kv.schema ? await validate(this.kv.schema, value) : value);
  }

  async get(key: string): Promise<KvValue<T> | undefined> {
    const e = await (await this.bucket()).get(key);
    return e && { value: await this.decode(e.value), revision: e.revision, created: e.created };
  }

  /** Returns the new revision. */
  async put(key: string, value: T): Promise<number> {
    const data = await this.encode(value);
    return (await this.bucket()).put(key, data);
  }

  /** Writes only if the key is absent or deleted. */
  async create(key: string, value: T): Promise<number> {
    const data = await this.encode(value);
    return (await this.bucket()).create(key, data);
  }

  /** Writes only if the key is still at `revision`. */
  async update(key: string, value: T, revision: number): Promise<number> {
    const data = await this.encode(value);
    return (await this.bucket()).update(key, data, revision);
  }

  async delete(key: string, revision?: number): Promise<void> {
    return (await this.bucket()).delete(key, revision);
  }

  /** Drops the key's history too. */
  async purge(key: string): Promise<void> {
    return (await this.bucket()).purge(key);
  }

  /** Keys with a value, matching `filter` (default every key). */
  async keys(filter?: string): Promise<string[]> {
    return (await this.bucket()).keys(filter);
  }

  /**
   * Every matching key's current value (deleted keys left out; none with `initial: false`), then
   * every change, decoded, in revision order. A value that does not decode goes to `onError`, skipped.
   * Resolves once watching, to the function that stops the watch.
   */
  async watch(
    onChange: (change: KvChange<T>) => void,
    options: { keys?: string; initial?: boolean; onError?: (error: unknown, entry: KvEntry) => void } = {},
  ): Promise<() => void> {
    const bucket = await this.bucket();
    const initial = options.initial ?? true;
    // Entries up to this revision were there before the watch: the current values.
    const initialUpTo = initial ? await bucket.revision() : 0;
    let chain = Promise.resolve();
    return bucket.watch(
      (entry) => {
        if (entry.revision <= initialUpTo && entry.operation !== "put") return;
        // Decoding may be async (schemas); chained so changes still arrive in order.
        chain = chain.then(async () => {
          try {
            const value = entry.operation === "put" ? await this.decode(entry.value) : undefined;
            const { key, revision, created } = entry;
            onChange({ key, value, revision, operation: kvOperation(entry), created, initial: revision <= initialUpTo });
          } catch (e) {
            options.onError?.(e, entry);
          }
        });
      },
      { initial, ...(options.keys !== undefined ? { key: options.keys } : {}) },
    );
  }
}

/** The `KvHandle` of a declaration, for `@inject(kvToken(FLAGS))` or `container.resolve(kvToken(FLAGS))`. */
export function kvToken<T>(declaration: KvDeclaration<T>): InjectionToken<KvHandle<T>> {
  if (!isKvDeclaration(declaration)) throw new SetupError("kvToken", "is not given a key-value bucket declaration.", "pass the result of defineKv({ bucket }).");
  return declaration.token;
}
