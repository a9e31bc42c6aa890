import type { DependencyContainer } from "tsyringe";

import { MessageContext } from "../../dispatch/context.js";
import { handle } from "../../dispatch/current.js";
import { IdleWaiters } from "../../dispatch/idle.js";
import type { HandlerTallies, Metrics } from "../../observability/metrics.js";
import type { InboundMessage } from "../../transport/transport.js";
import type { HandlerBinding, Source } from "../kind.js";

/** What a watcher watches: a KV bucket's entries, an object store's changes. */
export interface WatchSource<E> {
  /** Starts the watch, handing each entry to `accept` in order; resolves to the function that stops it. */
  start(accept: (entry: E) => void, onEnd: (error: Error | undefined) => void): Promise<() => void>;
  /** How the chain sees an entry: as a message, plus what to leave in its context, plus log fields. */
  present(entry: E): { message: InboundMessage; prepare: (ctx: MessageContext) => void; log: Record<string, unknown> };
}

/**
 * Runs a watching handler (`@WatchKv`, `@WatchObjects`): one entry at a time, in the order the watch
 * delivers them, through the handler's chain. A failure is logged and counted; the watch goes on.
 */
export class Watcher<E> implements Source {
  private readonly queue: E[] = [];
  private draining = false;
  private stopped = false;
  private stopWatch: (() => void) | undefined;
  private readonly idle = new IdleWaiters();

  // Label children bound once: a message pays for the increments only.
  private readonly series: HandlerTallies;

  constructor(
    readonly binding: HandlerBinding,
    private readonly source: WatchSource<E>,
    private readonly container: DependencyContainer,
    metrics: Metrics,
  ) {
    const handler = binding.info.name;
    this.series = metrics.forHandler(handler);
  }

  /** Entries running or queued. */
  get pending(): number {
    return this.queue.length + (this.draining ? 1 : 0);
  }

  async start(): Promise<void> {
    this.stopWatch = await this.source.start(
      (e) => this.accept(e),
      (err) => this.binding.logger.error({ err }, "watch ended; no more changes reach this handler"),
    );
  }

  private accept(entry: E): void {
    if (this.stopped) return;
    this.queue.push(entry);
    if (!this.draining) void this.drain();
  }

  private async drain(): Promise<void> {
    this.draining = true;
    for (let entry = this.queue.shift(); entry !== undefined && !this.stopped; entry = this.queue.shift()) await this.process(entry);
    this.draining = false;
    this.idle.notify();
  }

  private async process(entry: E): Promise<void> {
    const { binding } = this;
    this.series.inFlight.inc();
    const { message, prepare, log } = this.source.present(entry);
    const ctx = new MessageContext(message, binding.info, binding.logger, this.container);
    prepare(ctx);
    try {
      await handle(ctx, binding.propagation, binding.run);
      this.series.ok.inc();
    } catch (e) {
      this.series.failed.inc();
      ctx.logger.error({ err: e, ...log }, "watch handler failed");
    }
    if (ctx.hasContainer) await ctx.dispose();
    this.series.inFlight.dec();
  }

  /** Ends the watch; entries not yet handled are dropped (a restart delivers the current state again). */
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
