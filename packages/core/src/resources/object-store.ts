import { container as rootContainer, type InjectionToken } from "tsyringe";

import { RESOURCES } from "../di/tokens.js";
import { parseDuration, type Duration } from "../duration.js";
import { SetupError } from "../errors.js";
import { isValidBucketName } from "../subjects.js";
import type { ObjectInfo, ObjectStoreBucket, ObjectStoreBucketOptions, Transport } from "../transport/transport.js";
import { BucketResource, type ResolvedBucket } from "./bucket.js";
import type { ResourceRegistry } from "./resource.js";
import { limit, replicaCount, STORAGE } from "./stream.js";

export interface ObjectStoreOptions {
  /** Letters, digits, `-` and `_`. The store is the stream `OBJ_<bucket>`. */
  bucket: string;
  /** Objects expire this long after they were written. Default: never. */
  ttl?: Duration;
  /** Default unlimited. */
  maxBytes?: number;
  /** Default "file". */
  storage?: "file" | "memory";
  /** Copies kept in a JetStream cluster, 1 to 5. Default 1. Changed on the server with `update: true`. */
  replicas?: number;
  /** Update an existing store whose settings differ instead of failing `start`. Default false. */
  update?: boolean;
}

const DECLARATION = Symbol("natsflow:object-store");

/** An object store; created at `start()` when missing, verified when present. */
export interface ObjectStoreDeclaration {
  readonly [DECLARATION]: true;
  readonly options: Readonly<ObjectStoreOptions>;
  /** Injects the store's `ObjectStoreHandle` (see `@InjectObjectStore`). */
  readonly token: InjectionToken<ObjectStoreHandle>;
}

/** Declares an object store, injectable as an `ObjectStoreHandle` through `@InjectObjectStore(declaration)`. */
export function defineObjectStore(options: ObjectStoreOptions): ObjectStoreDeclaration {
  const token = Symbol(`natsflow:object-store:${String(options.bucket)}`) as InjectionToken<ObjectStoreHandle>;
  const declaration: ObjectStoreDeclaration = Object.freeze({ [DECLARATION]: true as const, options: Object.freeze({ ...options }), token });
  // In the root container, so every app (a child of it) resolves the token to its own handle.
  rootContainer.register(token, {
    useFactory: (c) => c.resolve<ResourceRegistry>(RESOURCES).use(new ObjectStoreResource(resolveObjectStore(declaration, "@InjectObjectStore store"), "@InjectObjectStore")).handle,
  });
  return declaration;
}

export function isObjectStoreDeclaration(value: unknown): value is ObjectStoreDeclaration {
  return typeof value === "object" && value !== null && DECLARATION in value;
}

export interface ResolvedObjectStore extends ResolvedBucket {
  readonly create: ObjectStoreBucketOptions;
}

export function resolveObjectStore(declaration: unknown, where: string): ResolvedObjectStore {
  if (!isObjectStoreDeclaration(declaration)) throw new SetupError(where, "is not an object store declaration.", "pass the result of defineObjectStore({ bucket }).");
  const o = declaration.options;
  if (!isValidBucketName(o.bucket)) {
    throw new SetupError(where, `${JSON.stringify(o.bucket)} is not a valid bucket name.`, "use letters, digits, - and _.");
  }
  const at = `object store ${o.bucket}`;
  const storage = o.storage ?? "file";
  if (!STORAGE.includes(storage)) throw new SetupError(`${at} storage`, `must be one of ${STORAGE.join(", ")}.`);
  if (o.update !== undefined && typeof o.update !== "boolean") throw new SetupError(`${at} update`, "must be true or false.");
  const ttlMs = parseDuration(`${at} ttl`, o.ttl ?? 0);
  const maxBytes = limit(`${at} maxBytes`, o.maxBytes, -1);
  const replicas = replicaCount(`${at} replicas`, o.replicas);
  return {
    bucket: o.bucket,
    create: { maxBytes, storage, replicas, ...(ttlMs > 0 ? { ttlMs } : {}) },
    declared: { maxAgeMs: ttlMs, maxBytes, storage, replicas },
    update: o.update === true,
  };
}

/** An object store an app uses, through handles and watchers: its one `ObjectStoreHandle` and the open store. */
export class ObjectStoreResource extends BucketResource<ResolvedObjectStore, ObjectStoreBucket> {
  readonly kind = "object store";
  readonly handle = new ObjectStoreHandle(this.name, () => this.bucket());

  protected get label(): string {
    return `object store ${this.name}`;
  }

  protected get stream(): string {
    return `OBJ_${this.name}`;
  }

  protected open(transport: Transport): Promise<ObjectStoreBucket> {
    return transport.objectStore(this.name, this.declared.create);
  }
}

/** Named blobs in a JetStream object store. Open from `start()`. */
export class ObjectStoreHandle {
  /** @internal made by the app for each declaration it is asked for */
  constructor(
    readonly name: string,
    private readonly store: () => Promise<ObjectStoreBucket>,
  ) {}

  /** Stores (or replaces) an object; a stream is read to its end. */
  async put(name: string, data: Uint8Array | ReadableStream<Uint8Array>): Promise<ObjectInfo> {
    return (await this.store()).put(name, data);
  }

  /** The whole object, or undefined when there is none. */
  async get(name: string): Promise<Uint8Array | undefined> {
    return (await this.store()).get(name);
  }

  async info(name: string): Promise<ObjectInfo | undefined> {
    return (await this.store()).info(name);
  }

  async delete(name: string): Promise<void> {
    return (await this.store()).delete(name);
  }

  async list(): Promise<ObjectInfo[]> {
    return (await this.store()).list();
  }
}

/** The `ObjectStoreHandle` of a declaration, for `@inject(objectStoreToken(FILES))`. */
export function objectStoreToken(declaration: ObjectStoreDeclaration): InjectionToken<ObjectStoreHandle> {
  if (!isObjectStoreDeclaration(declaration)) throw new SetupError("objectStoreToken", "is not given an object store declaration.", "pass the result of defineObjectStore({ bucket }).");
  return declaration.token;
}
