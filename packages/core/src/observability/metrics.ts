import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export type { Counter, Gauge, Histogram } from "prom-client";

/**
 * The app's Prometheus metrics, in a registry of its own (several apps in one process do not mix).
 * Injectable by type: handlers, middleware and other natsflow packages add their series with
 * `counter`, `gauge` and `histogram`, made by core's one copy of prom-client (a second copy elsewhere
 * would make metrics this registry might not serve).
 */
export class Metrics {
  readonly registry = new Registry();
  readonly connected: Gauge;
  readonly inFlight: Gauge<"handler">;
  readonly messages: Counter<"handler" | "result">;
  readonly jetstream: Counter<"handler" | "outcome">;
  readonly batchSize: Histogram<"handler">;
  readonly subscriptionErrors: Counter<"handler">;

  /** A counter in the app's registry. */
  counter<L extends string = never>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
    return new Counter({ name, help, labelNames, registers: [this.registry] });
  }

  /** A gauge in the app's registry. */
  gauge<L extends string = never>(name: string, help: string, labelNames: readonly L[] = []): Gauge<L> {
    return new Gauge({ name, help, labelNames, registers: [this.registry] });
  }

  /** A histogram in the app's registry; `buckets` in the unit observed (prom-client's defaults when left out). */
  histogram<L extends string = never>(name: string, help: string, labelNames: readonly L[] = [], buckets?: number[]): Histogram<L> {
    return new Histogram({ name, help, labelNames, registers: [this.registry], ...(buckets ? { buckets } : {}) });
  }

  /** A handler's in-flight gauge and ok/error counters, bound once: a message then pays for the increments only. */
  forHandler(handler: string) {
    return { inFlight: this.inFlight.labels(handler), ok: this.messages.labels(handler, "ok"), failed: this.messages.labels(handler, "error") };
  }

  constructor(options: { processMetrics?: boolean } = {}) {
    // Opt-in: prom-client's GC observer alone costs tens of µs per request in allocation-heavy services.
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry, prefix: "natsflow_process_" });
    this.connected = new Gauge({ name: "natsflow_nats_connected", help: "1 while the NATS connection is up", registers: [this.registry] });
    this.inFlight = new Gauge({ name: "natsflow_handler_in_flight", help: "messages being handled now", labelNames: ["handler"], registers: [this.registry] });
    this.messages = new Counter({
      name: "natsflow_handler_messages_total",
      help: "messages handled, by result (ok, error, overloaded, unmatched)",
      labelNames: ["handler", "result"],
      registers: [this.registry],
    });
    this.jetstream = new Counter({
      name: "natsflow_jetstream_messages_total",
      help: "JetStream messages settled, by outcome (ack, nak, term, dead_letter)",
      labelNames: ["handler", "outcome"],
      registers: [this.registry],
    });
    this.batchSize = new Histogram({
      name: "natsflow_jetstream_batch_size",
      help: "messages per batch a batch consumer pulled, invalid ones included",
      labelNames: ["handler"],
      buckets: [1, 10, 50, 100, 250, 500, 1000],
      registers: [this.registry],
    });
    this.subscriptionErrors = new Counter({
      name: "natsflow_subscription_errors_total",
      help: "subscriptions the server ended (a permissions violation); the app is not ready while one is down",
      labelNames: ["handler"],
      registers: [this.registry],
    });
  }
}
