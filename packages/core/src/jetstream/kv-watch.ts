import type { DependencyContainer } from "tsyringe";

import type { CodecOption } from "../codec/codec.js";
import { createContextKey, MessageContext } from "../dispatch/context.js";
import { IdleWaiters } from "../dispatch/idle.js";
import { SetupError } from "../errors.js";
import type { HandlerBinding } from "../metadata/explorer.js";
import type { Middleware } from "../middleware/middleware.js";
import type { Metrics } from "../observability/metrics.js";
import { resolvePayloadStage } from "../pipeline/subscribe-pipeline.js";
import type { KvBucket, KvEntry } from "../transport/transport.js";
import type { StandardSchemaV1 } from "../validation/standard-schema.js";
import { isKvDeclaration, kvOperation, resolveKv, type KvDeclaration, type KvOperation, type KvOptions, type ResolvedKv } from "./kv.js";

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
  readonly kv: ResolvedKv;
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

/** Checks the declaration here (not at decoration), so a mistake fails `create` with the handler's name. */
export function resolveWatchKv(declaration: KvDeclaration, options: WatchKvOptions, name: string, filter: string): KvWatchSpec {
  const kv = resolveKv(declaration, `${name} bucket`);
  if (options.initial !== undefined && typeof options.initial !== "boolean") throw new SetupError(`${name} initial`, "must be true or false.");
  return { kv, filter, initial: options.initial ?? true };
}

/** Decodes PUT values with the handler's codec and schema; a DEL or PURGE has no value. */
export function kvPayloadStage(declaration: KvDeclaration, options: WatchKvOptions, name: string): Middleware {
  const bucket: Partial<KvOptions> = isKvDeclaration(declaration) ? declaration.options : {};
  const { stage } = resolvePayloadStage(name, { codec: options.codec ?? bucket.codec, schema: options.schema ?? bucket.schema });
  return (ctx, next) => {
    if (ctx.get(KV_ENTRY)?.operation === "PUT") return stage(ctx, next);
    ctx.payload = undefined;
    return next();
  };
}

/**
 * Runs a `@WatchKv` handler: one entry at a time, in revision order, through the handler's chain.
 * A failure is logged and counted; the watch goes on with the next entry.
 */
export class KvWatcher {
  private readonly queue: KvEntry[] = [];
  private draining = false;
  private stopped = false;
  private stopWatch: (() => void) | undefined;
  private readonly idle = new IdleWaiters();
  private readonly ok;
  private readonly failed;
  private readonly gauge;
  /** Entries up to this revision were in the bucket before the watch: the initial values. */
  private initialUpTo = 0;

  constructor(
    private readonly binding: HandlerBinding & { readonly watch: KvWatchSpec },
    private readonly container: DependencyContainer,
    metrics: Metrics,
  ) {
    const handler = binding.info.name;
    this.ok = metrics.messages.labels(handler, "ok");
    this.failed = metrics.messages.labels(handler, "error");
    this.gauge = metrics.inFlight.labels(handler);
  }

  /** Entries running or queued. */
  get pending(): number {
    return this.queue.length + (this.draining ? 1 : 0);
  }

  async start(bucket: KvBucket): Promise<void> {
    const { watch, logger } = this.binding;
    if (watch.initial) this.initialUpTo = await bucket.revision();
    this.stopWatch = await bucket.watch((e) => this.accept(e), {
      key: watch.filter,
      initial: watch.initial,
      onEnd: (err) => logger.error({ err, bucket: bucket.name }, "kv watch ended; no more changes reach this handler"),
    });
  }

  private accept(entry: KvEntry): void {
    if (this.stopped) return;
    // A deleted key has no current value to deliver.
    if (entry.revision <= this.initialUpTo && entry.operation !== "put") return;
    this.queue.push(entry);
    if (!this.draining) void this.drain();
  }

  private async drain(): Promise<void> {
    this.draining = true;
    for (let entry = this.queue.shift(); entry && !this.stopped; entry = this.queue.shift()) await this.process(entry);
    this.draining = false;
    this.idle.notify();
  }

  private async process(entry: KvEntry): Promise<void> {
    const { binding } = this;
    this.gauge.inc();
    const ctx = new MessageContext({ subject: entry.key, data: entry.value }, binding.info, binding.logger, this.container);
    const info: KvEntryInfo = {
      bucket: binding.watch.kv.bucket,
      key: entry.key,
      revision: entry.revision,
      operation: kvOperation(entry),
      created: entry.created,
      initial: entry.revision <= this.initialUpTo,
    };
    ctx.set(KV_ENTRY, info);
    try {
      await binding.run(ctx);
      this.ok.inc();
    } catch (e) {
      this.failed.inc();
      ctx.logger.error({ err: e, bucket: info.bucket, key: info.key, revision: info.revision, operation: info.operation }, "kv watch handler failed");
    }
    if (ctx.hasContainer) await ctx.dispose();
    this.gauge.dec();
  }

  /** Ends the watch; entries not yet handled are dropped (a restart delivers the current values again). */
  stop(): void {
    this.stopped = true;
    this.queue.length = 0;
    this.stopWatch?.();
  }

  /** Resolves once the entry in flight, if any, is done. */
  settled(): Promise<void> {
    return this.idle.wait(!this.draining);
  }
}
