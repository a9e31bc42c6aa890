import { NatsflowError } from "../errors.js";
import type { Logger } from "../logging/logger.js";
import type { StreamConfig, Transport } from "../transport/transport.js";
import type { Resource } from "./resource.js";
import { drift, refuseDrift } from "./stream.js";

// How the bucket options are called on the streams behind them, for drift messages.
const LABELS: Partial<Record<keyof StreamConfig, string>> = { maxMsgsPerSubject: "history", maxAgeMs: "ttl" };

/** What a KV bucket and an object store declaration have in common, checked. */
export interface ResolvedBucket {
  readonly bucket: string;
  /** What an existing bucket's stream must have. */
  readonly declared: Partial<StreamConfig>;
  readonly update: boolean;
}

/**
 * Creates the bucket's stream when missing (through `open`); an existing one must match what is
 * declared, or is updated with `update: true`.
 */
async function ensureBucket<B>(transport: Transport, what: string, stream: string, spec: ResolvedBucket, open: () => Promise<B>, logger: Logger): Promise<B> {
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

/**
 * A KV bucket or object store an app uses (through injected handles or watchers): set up at
 * `start()`, opened on first use when first asked for later, let go at `stop()`.
 */
export abstract class BucketResource<R extends ResolvedBucket, B> implements Resource {
  abstract readonly kind: string;
  private running: { transport: Transport; logger: Logger } | undefined;
  private opened: Promise<B> | undefined;

  constructor(
    readonly declared: R,
    readonly user: string,
  ) {}

  get name(): string {
    return this.declared.bucket;
  }

  /** "kv flags", "object store files": how messages name it. */
  protected abstract get label(): string;
  /** Its stream's name on the server. */
  protected abstract get stream(): string;
  /** Opens (creating when missing) the bucket through the transport. */
  protected abstract open(transport: Transport): Promise<B>;

  async setup(transport: Transport, logger: Logger): Promise<void> {
    this.running = { transport, logger };
    await this.bucket();
  }

  /** The open bucket; a clear error outside `start()`…`stop()` instead of reaching a closed connection. */
  bucket(): Promise<B> {
    const running = this.running;
    if (!running) return Promise.reject(new NatsflowError(`${this.label} is not open: buckets are set up by app.start() and closed by app.stop()`));
    return (this.opened ??= ensureBucket(running.transport, this.label, this.stream, this.declared, () => this.open(running.transport), running.logger));
  }

  stop(): void {
    this.running = undefined;
    this.opened = undefined;
  }
}
