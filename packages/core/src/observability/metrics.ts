import { createRequire } from "node:module";

import type * as PromClient from "prom-client";
import type { Counter, Gauge, Histogram, Registry } from "prom-client";

export type { Counter, Gauge, Histogram } from "prom-client";

let loaded: typeof PromClient | undefined;

/**
 * prom-client, loaded on first use (it is CommonJS, so `require` can load it synchronously then): an
 * app that is not scraped and makes no series of its own starts without it.
 */
function promClient(): typeof PromClient {
  return (loaded ??= createRequire(import.meta.url)("prom-client") as typeof PromClient);
}

/**
 * A count a source adds to per message: a plain number, read into its Prometheus series only when
 * the registry is read. prom-client hashes the labels on every `inc`, even of a bound child: about
 * a microsecond per message on the event path for counts nobody reads until the next scrape.
 */
export class Tally {
  value = 0;
  inc(): void {
    this.value++;
  }
  dec(): void {
    this.value--;
  }
}

/** A series of one metric counted in a `Tally`, and how much of it the metric has been told. */
interface Tallied {
  readonly labels: Record<string, string>;
  readonly tally: Tally;
  reported: number;
}

/** A handler's counts: in flight now, and messages by result. */
export interface HandlerTallies {
  readonly inFlight: Tally;
  readonly ok: Tally;
  readonly failed: Tally;
}

/** The series natsflow itself keeps, made with the registry on first use. */
interface OwnSeries {
  readonly registry: Registry;
  readonly connected: Gauge;
  readonly inFlight: Gauge<"handler">;
  readonly messages: Counter<"handler" | "result">;
  readonly jetstream: Counter<"handler" | "outcome">;
  readonly batchSize: Histogram<"handler">;
  readonly subscriptionErrors: Counter<"handler">;
}

type TalliedMetric = "messages" | "jetstream" | "inFlight" | "subscriptionErrors";

/**
 * The app's Prometheus metrics, in a registry of its own (several apps in one process do not mix).
 * Injectable by type: handlers, middleware and other natsflow packages add their series with
 * `counter`, `gauge` and `histogram`, made by core's one copy of prom-client (a second copy elsewhere
 * would make metrics this registry might not serve). The registry and natsflow's own series are made
 * on first use — a scrape, a series of your own — and hold what was counted from the start.
 */
export class Metrics {
  private own: OwnSeries | undefined;
  private readonly tallied: Record<TalliedMetric, Tallied[]> = { messages: [], jetstream: [], inFlight: [], subscriptionErrors: [] };
  private up = 0;

  constructor(private readonly options: { processMetrics?: boolean } = {}) {
    // Process metrics observe from the start (GC, event loop), so they cannot wait for a scrape.
    if (options.processMetrics) this.series();
  }

  get registry(): Registry {
    return this.series().registry;
  }

  /** 1 while the NATS connection is up. */
  get connected(): Gauge {
    return this.series().connected;
  }

  get inFlight(): Gauge<"handler"> {
    return this.series().inFlight;
  }

  get messages(): Counter<"handler" | "result"> {
    return this.series().messages;
  }

  get jetstream(): Counter<"handler" | "outcome"> {
    return this.series().jetstream;
  }

  get batchSize(): Histogram<"handler"> {
    return this.series().batchSize;
  }

  get subscriptionErrors(): Counter<"handler"> {
    return this.series().subscriptionErrors;
  }

  /** @internal set by the app as its connection comes and goes; read at scrape */
  setConnected(up: boolean): void {
    this.up = up ? 1 : 0;
  }

  /** A counter in the app's registry. */
  counter<L extends string = never>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
    return new (promClient().Counter)({ name, help, labelNames, registers: [this.registry] });
  }

  /** A gauge in the app's registry. */
  gauge<L extends string = never>(name: string, help: string, labelNames: readonly L[] = []): Gauge<L> {
    return new (promClient().Gauge)({ name, help, labelNames, registers: [this.registry] });
  }

  /** A histogram in the app's registry; `buckets` in the unit observed (prom-client's defaults when left out). */
  histogram<L extends string = never>(name: string, help: string, labelNames: readonly L[] = [], buckets?: number[]): Histogram<L> {
    return new (promClient().Histogram)({ name, help, labelNames, registers: [this.registry], ...(buckets ? { buckets } : {}) });
  }

  /** A count of `metric`'s series with these labels, kept as a `Tally` until the registry is read. */
  tally(metric: "messages", handler: string, result: string): Tally;
  tally(metric: "jetstream", handler: string, outcome: string): Tally;
  tally(metric: "inFlight" | "subscriptionErrors", handler: string): Tally;
  tally(metric: TalliedMetric, handler: string, second?: string): Tally {
    const tally = new Tally();
    const labels: Record<string, string> = { handler };
    if (second !== undefined) labels[metric === "messages" ? "result" : "outcome"] = second;
    this.tallied[metric].push({ labels, tally, reported: 0 });
    return tally;
  }

  /** A handler's in-flight count and ok/error counts. */
  forHandler(handler: string): HandlerTallies {
    return { inFlight: this.tally("inFlight", handler), ok: this.tally("messages", handler, "ok"), failed: this.tally("messages", handler, "error") };
  }

  private series(): OwnSeries {
    if (this.own) return this.own;
    const { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } = promClient();
    const registry = new Registry();
    if (this.options.processMetrics) collectDefaultMetrics({ register: registry, prefix: "natsflow_process_" });
    const registers = [registry];
    const { tallied } = this;
    const metrics = this;
    // What the tallies counted since the last read is added (a counter) or set (a gauge) when the registry is read.
    this.own = {
      registry,
      connected: new Gauge({
        name: "natsflow_nats_connected",
        help: "1 while the NATS connection is up",
        registers,
        collect() {
          this.set(metrics.up);
        },
      }),
      inFlight: new Gauge({
        name: "natsflow_handler_in_flight",
        help: "messages being handled now",
        labelNames: ["handler"],
        registers,
        collect() {
          for (const t of tallied.inFlight) this.set(t.labels, t.tally.value);
        },
      }),
      messages: new Counter({
        name: "natsflow_handler_messages_total",
        help: "messages handled, by result (ok, error, overloaded, unmatched)",
        labelNames: ["handler", "result"],
        registers,
        collect() {
          report(this, tallied.messages);
        },
      }),
      jetstream: new Counter({
        name: "natsflow_jetstream_messages_total",
        help: "JetStream messages settled, by outcome (ack, nak, term, dead_letter)",
        labelNames: ["handler", "outcome"],
        registers,
        collect() {
          report(this, tallied.jetstream);
        },
      }),
      batchSize: new Histogram({
        name: "natsflow_jetstream_batch_size",
        help: "messages per batch a batch consumer pulled, invalid ones included",
        labelNames: ["handler"],
        buckets: [1, 10, 50, 100, 250, 500, 1000],
        registers,
      }),
      subscriptionErrors: new Counter({
        name: "natsflow_subscription_errors_total",
        help: "subscriptions the server ended (a permissions violation); the app is not ready while one is down",
        labelNames: ["handler"],
        registers,
        collect() {
          report(this, tallied.subscriptionErrors);
        },
      }),
    };
    return this.own;
  }
}

/** Adds to `counter` what each tally counted since the last read; a series appears once its count does. */
function report(counter: Counter<string>, series: readonly Tallied[]): void {
  for (const t of series) {
    const delta = t.tally.value - t.reported;
    if (delta === 0) continue;
    counter.inc(t.labels, delta);
    t.reported = t.tally.value;
  }
}
