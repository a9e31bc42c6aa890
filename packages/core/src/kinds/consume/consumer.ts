import type { DependencyContainer } from "tsyringe";

import { MessageContext } from "../../dispatch/context.js";
import { handle } from "../../dispatch/current.js";
import { HandledError, type SettleOutcome } from "../../dispatch/exceptions.js";
import { IdleWaiters } from "../../dispatch/idle.js";
import { formatDuration } from "../../duration.js";
import type { HandlerInfo } from "../../dispatch/handler-info.js";
import { HandlerError, NoMatchError, SetupError, ValidationError } from "../../errors.js";
import type { Logger } from "../../logging/logger.js";
import type { HandlerTallies, Metrics, Tally } from "../../observability/metrics.js";
import { RESOLVED } from "../../resolved.js";
import type { ConsumerConfig, JetStream, JetStreamMessage, JetStreamPull, PullConsumer, StartAt, Transport } from "../../transport/transport.js";
import { SeriesByHandler } from "../handler-series.js";
import type { HandlerBinding, Source } from "../kind.js";
import { deadLetterHeaders } from "./dead-letter.js";
import { EphemeralPullConsumer } from "./ephemeral.js";
import type { BatchOutcome } from "./batch.js";
import { DELIVERY, JetStreamBatch, JetStreamDelivery, type Settlement } from "./jetstream-delivery.js";
import { batchMaxAckPending, PULL_EXPIRES_MS, type ConsumeSpec } from "./options.js";

/** Pause after a failed pull (stream deleted, connection down, …) before trying again. */
const PULL_RETRY_MS = 1_000;
/** Messages an ordered consumer asks for at once: handled one by one, so this is all it buffers. */
const ORDERED_BATCH = 256;

/** A field of an existing durable natsflow owns: the option that declares it, and how that shows it. */
interface Owned {
  readonly option: string;
  /** The server changes it on update; otherwise a change is refused. */
  readonly updatable: boolean;
  /** Its value when not declared (the server's default); without one it is compared only when declared. */
  readonly unset?: unknown;
  readonly show?: (value: never) => string;
}

const duration = (ms: number) => JSON.stringify(formatDuration(ms));
const startAt = (at: StartAt) =>
  typeof at === "string" ? JSON.stringify(at) : "sequence" in at ? `{ sequence: ${at.sequence} }` : `{ time: ${JSON.stringify(at.time.toISOString())} }`;

/** What natsflow compares on an existing durable, updating what drifted where the server allows it. */
const OWNED: { readonly [F in keyof ConsumerConfig]?: Owned } = {
  filterSubject: { option: "subject", updatable: true },
  filterSubjects: { option: "filterSubjects", updatable: true, unset: null },
  ackWaitMs: { option: "ackWait", updatable: true, show: duration },
  maxDeliver: { option: "retry.maxDeliver", updatable: true },
  backoffMs: { option: "backoff", updatable: true, unset: [] },
  maxAckPending: { option: "concurrency", updatable: true },
  push: { option: "push", updatable: true, unset: null },
  startAt: { option: "startAt", updatable: false, show: startAt },
  replay: { option: "replay", updatable: false },
  memoryStorage: { option: "memoryStorage", updatable: false },
  maxWaiting: { option: "maxWaiting", updatable: false },
  headersOnly: { option: "headersOnly", updatable: true, unset: false },
  rateLimitBps: { option: "rateLimitBps", updatable: true, unset: 0 },
  metadata: { option: "metadata", updatable: true, unset: {} },
  inactiveThresholdMs: { option: "inactiveThreshold", updatable: true, unset: 0, show: duration },
  maxBatch: { option: "maxBatch", updatable: true, unset: 0 },
  maxExpiresMs: { option: "maxExpires", updatable: true, unset: 0, show: duration },
  maxBytes: { option: "maxBytes", updatable: true, unset: 0 },
  description: { option: "description", updatable: true, unset: "" },
  // Left to the server (the stream's count) unless declared.
  replicas: { option: "replicas", updatable: true },
};

/** Equal as the server would store them: maps whatever their key order. */
function same(a: unknown, b: unknown): boolean {
  const canonical = (v: unknown) => JSON.stringify(v !== null && typeof v === "object" && !Array.isArray(v) && !(v instanceof Date) ? Object.entries(v).sort(([x], [y]) => x.localeCompare(y)) : v);
  return canonical(a) === canonical(b);
}

/** A message being settled: what its logs and counters name. */
interface Settling {
  readonly message: JetStreamMessage;
  readonly logger: Logger;
  readonly handler: HandlerInfo;
}

/** A message's span attributes, made only when tracing is on. */
const messageAttributes = (ctx: MessageContext): Record<string, string | number> => {
  const message = ctx.message as JetStreamMessage;
  return {
    "natsflow.jetstream.stream": message.stream,
    "natsflow.jetstream.consumer": message.consumer,
    "natsflow.jetstream.sequence": message.sequence,
    "natsflow.jetstream.deliveries": message.deliveries,
  };
};

/**
 * Where a JetStream message enters: a durable consumer, pull or push, or an ordered one. It runs
 * each message through the handler's composed chain and settles it by the handler's ack mode: ack,
 * nak with the retry delay, or term and dead-letter. At most `concurrency` handlers run at once
 * whenever they ack (see `accept`); the server's `max_ack_pending` bounds what waits for a slot.
 */
export class JetStreamConsumer implements Source {
  private inFlight = 0;
  /**
   * Delivered while every slot was busy: a handler that acks early frees its server slot, so the
   * server sends more. Unacked, each counts against `max_ack_pending`, which bounds this queue.
   */
  private readonly waiting: JetStreamMessage[] = [];
  /** Restarts the ack wait of the messages running and waiting: one timer for all, ticking only while there are some. */
  private heartbeat: NodeJS.Timeout | undefined;
  /** Set while `release` hands slots to waiting messages (a loop, not recursion: see there). */
  private handingOn = false;
  /** A batch consumer's wait for a batch to fill, and whether it is over. */
  private fillTimer: NodeJS.Timeout | undefined;
  private fillExpired = false;
  private stopped = false;
  private pull: JetStreamPull | undefined;
  private wake: (() => void) | undefined;
  private readonly idle = new IdleWaiters();
  /** Deliveries whose handlers are running, for `abandon`. */
  private readonly running = new Set<JetStreamDelivery>();
  private maxDeliver: number;
  private ackWaitMs: number;

  // Counts made once: a message pays for adding to plain numbers only.
  private readonly series: SeriesByHandler<HandlerTallies & Record<Settlement | "dead_letter", Tally>>;
  /** A batch consumer's batch sizes (a histogram child: observed once per batch). */
  private readonly batchSize: { observe(n: number): void } | undefined;

  constructor(
    readonly binding: HandlerBinding,
    private readonly spec: ConsumeSpec,
    private readonly transport: Transport,
    private readonly container: DependencyContainer,
    metrics: Metrics,
  ) {
    this.series = new SeriesByHandler(binding.info, (handler) => ({
      ...metrics.forHandler(handler),
      ack: metrics.tally("jetstream", handler, "ack"),
      nak: metrics.tally("jetstream", handler, "nak"),
      term: metrics.tally("jetstream", handler, "term"),
      dead_letter: metrics.tally("jetstream", handler, "dead_letter"),
    }));
    this.batchSize = spec.batch ? metrics.batchSize.labels(binding.info.name) : undefined;
    this.maxDeliver = spec.consumer?.maxDeliver ?? 1;
    this.ackWaitMs = spec.consumer?.ackWaitMs ?? 0;
  }

  get pending(): number {
    return this.inFlight + this.waiting.length;
  }

  /** Makes sure the durable exists as configured (or, bound, that it exists), then starts taking messages. */
  async start(): Promise<void> {
    const js = this.transport.jetstream();
    const { stream, ordered, consumer: wanted } = this.spec;
    if (ordered) {
      void this.inOrder(await js.orderedConsumer(stream.config.name, ordered));
      return;
    }
    const config = await this.ensureConsumer(js, wanted as ConsumerConfig);
    this.maxDeliver = config.maxDeliver;
    this.ackWaitMs = config.ackWaitMs;
    // The server bounds what is out (unacked) to max_ack_pending: with it at most concurrency, what
    // waits for a slot after an early ack is bounded too (not so with ack-first: acked on arrival).
    const bounded = config.maxAckPending > 0 && config.maxAckPending <= this.binding.concurrency && this.spec.ack !== "ack-first";
    if (config.push) {
      // A push consumer cannot be asked for less, so the bound must hold.
      if (!bounded) {
        throw new SetupError(
          `${this.binding.info.name} durable`,
          `push consumer "${config.durable}" allows ${config.maxAckPending} unacked messages, more than concurrency ${this.binding.concurrency} can run${this.spec.ack === "ack-first" ? " (and ack-first frees a slot on arrival)" : ""}.`,
          "set its max_ack_pending to at most the handler's concurrency, or use a pull consumer.",
        );
      }
      void this.keep(() => js.subscribePush(config, (m) => this.accept(m)));
      return;
    }
    const consumer = config.ephemeral ? await EphemeralPullConsumer.open(js, config, this.binding.logger) : await js.consumer(config.stream, config.durable);
    if (this.spec.batch) {
      const { max } = this.spec.batch;
      const most = batchMaxAckPending(this.binding.concurrency, max);
      // Only the server bounds what gathers for the next batches (a bound durable may allow more).
      if (config.maxAckPending <= 0 || config.maxAckPending > most) {
        throw new SetupError(
          `${this.binding.info.name} durable`,
          `consumer "${config.durable}" allows ${config.maxAckPending} unacked messages, more than ${this.binding.concurrency} running batch(es) of ${max} and one gathering hold.`,
          `set its max_ack_pending to at most ${most} ((concurrency + 1) × batch.max), or raise them.`,
        );
      }
      void this.keep(() => consumer.consume({ max: most, expiresMs: PULL_EXPIRES_MS }, (m) => this.gather(m)));
      return;
    }
    // Bounded, a standing pull is as safe as one per free slot, and saves a subscription and a request per batch.
    void (bounded ? this.keep(() => consumer.consume({ max: this.binding.concurrency, expiresMs: PULL_EXPIRES_MS }, (m) => this.accept(m))) : this.loop(consumer));
  }

  /** Pull no more; messages being handled still finish and are settled (see `settled`). */
  stop(): void {
    this.stopped = true;
    this.pull?.stop();
    // Not started: back to the server, as a message arriving after stop() is.
    for (const message of this.waiting.splice(0)) message.nak();
    this.beat();
    clearTimeout(this.fillTimer);
    this.wake?.();
  }

  settled(): Promise<void> {
    return this.idle.wait(this.inFlight === 0);
  }

  /**
   * Naks, without delay, every message whose handler still runs and has not settled it: the stream
   * redelivers it to another instance (or the next start) at once. A handler that finishes later
   * finds it settled, so nothing is acked for work the stop cut short.
   */
  abandon(): number {
    let given = 0;
    for (const delivery of this.running) {
      if (delivery.settled) continue;
      try {
        delivery.nak();
        given++;
      } catch (e) {
        this.binding.logger.warn({ err: e, sequence: delivery.sequence }, "could not give the message back; the server redelivers it after its ack wait");
      }
    }
    return given;
  }

  private async ensureConsumer(js: JetStream, wanted: ConsumerConfig): Promise<ConsumerConfig> {
    const { bind } = this.spec;
    const existing = await js.consumerInfo(wanted.stream, wanted.durable);
    if (bind) {
      if (!existing) {
        throw new SetupError(`${this.binding.info.name} durable`, `consumer "${wanted.durable}" does not exist on stream ${wanted.stream}.`, "create it first, or drop bind: true to let natsflow create it.");
      }
      return existing;
    }
    if (!existing) {
      await js.addConsumer(wanted);
      this.binding.logger.info({ stream: wanted.stream, [wanted.ephemeral ? "consumer" : "durable"]: wanted.durable }, "consumer created");
      return wanted;
    }
    if (!existing.push !== !wanted.push) {
      // The server cannot turn one into the other.
      throw new SetupError(
        `${this.binding.info.name} durable`,
        `"${wanted.durable}" on stream ${wanted.stream} is a ${existing.push ? "push" : "pull"} consumer; the handler wants ${wanted.push ? "push" : "pull"}.`,
        "give the handler a new durable name, or delete the old consumer.",
      );
    }
    const changed = (Object.keys(OWNED) as Array<keyof ConsumerConfig>).filter((f) => {
      const owned = OWNED[f] as Owned;
      // Undeclared, a field without a default stays as the server has it; the others are reset to it.
      if (owned.unset === undefined && wanted[f] === undefined) return false;
      return !same(existing[f] ?? owned.unset, wanted[f] ?? owned.unset);
    });
    const fixed = changed.filter((f) => !OWNED[f]?.updatable);
    if (fixed.length > 0) {
      const show = (f: keyof ConsumerConfig, v: unknown) => (OWNED[f]?.show ? OWNED[f].show(v as never) : JSON.stringify(v));
      const described = fixed.map((f) => `${OWNED[f]?.option} is ${show(f, existing[f])} on the server but declared ${show(f, wanted[f])}`).join("; ");
      throw new SetupError(
        `${this.binding.info.name} ${OWNED[fixed[0] as keyof ConsumerConfig]?.option}`,
        `durable "${wanted.durable}" on stream ${wanted.stream}: ${described}, which the server cannot change.`,
        "declare what the server has, give the handler a new durable name, or delete the consumer (it starts again from startAt).",
      );
    }
    if (changed.length > 0) {
      await js.updateConsumer(wanted);
      this.binding.logger.info({ stream: wanted.stream, durable: wanted.durable, changed: changed.map((f) => OWNED[f]?.option) }, "consumer updated");
    }
    return wanted;
  }

  /** Keeps one pull or push subscription open at a time, reopening it when it ends or fails, after `between`. */
  private async keep(open: () => JetStreamPull, between?: () => Promise<void>): Promise<void> {
    while (!this.stopped) {
      const pull = open();
      this.pull = pull;
      try {
        await pull.done;
      } catch (error) {
        if (!this.stopped) await this.pauseAfter(error);
      }
      this.pull = undefined;
      await between?.();
    }
  }

  /** One pull at a time, its messages handled one by one in arrival (stream) order before the next pull. */
  private inOrder(consumer: PullConsumer): Promise<void> {
    let chain = Promise.resolve();
    const handle = (m: JetStreamMessage) => {
      chain = chain.then(() => (this.stopped ? undefined : this.process(m)));
    };
    return this.keep(() => consumer.pull({ max: ORDERED_BATCH, expiresMs: PULL_EXPIRES_MS }, handle), () => chain);
  }

  private pauseAfter(error: unknown): Promise<void> {
    this.binding.logger.warn({ err: error }, "pull failed; retrying");
    return new Promise<void>((resolve) => {
      this.wake = resolve;
      setTimeout(resolve, PULL_RETRY_MS).unref();
    });
  }

  private async loop(consumer: PullConsumer): Promise<void> {
    const { concurrency } = this.binding;
    while (!this.stopped) {
      const free = concurrency - this.inFlight - this.waiting.length;
      if (free <= 0) {
        await new Promise<void>((resolve) => (this.wake = resolve));
        continue;
      }
      // One pull at a time, for the free slots only: the server never has more out than we can run.
      const pull = consumer.pull({ max: free, expiresMs: PULL_EXPIRES_MS }, (m) => this.accept(m));
      this.pull = pull;
      try {
        await pull.done;
      } catch (error) {
        if (this.stopped) break;
        await this.pauseAfter(error);
      }
      this.pull = undefined;
    }
  }

  private accept(message: JetStreamMessage): void {
    // Arrived after stop(): back to the server at once, for another instance or the next start.
    if (this.stopped) {
      if (this.spec.ack !== "none") message.nak();
    } else if (this.inFlight < this.binding.concurrency) void this.process(message);
    else {
      this.waiting.push(message);
      this.beat();
    }
  }

  /**
   * Keeps the ack wait of every message that runs or waits for a slot from running out: each hears
   * `working()` every third of the ack wait (the first time within one), however long it takes.
   */
  private beat(): void {
    if (this.running.size === 0 && this.waiting.length === 0) {
      clearInterval(this.heartbeat);
      this.heartbeat = undefined;
    } else if (!this.heartbeat) {
      this.heartbeat = setInterval(() => {
        for (const delivery of this.running) delivery.working();
        for (const message of this.waiting) message.working();
      }, this.ackWaitMs / 3);
      this.heartbeat.unref();
    }
  }

  /**
   * One message through the handler's chain, then settled. Resolves when it is done: at once
   * (`RESOLVED`) when the chain finished synchronously, with no promise or microtask of its own.
   */
  private process(message: JetStreamMessage): Promise<void> {
    this.inFlight++;
    this.series.own.inFlight.inc();
    const { binding } = this;
    const { ack } = this.spec;
    // Counted as the handler's its filters routed the message to (settled once ctx exists).
    const delivery = new JetStreamDelivery(message, (outcome) => this.series.of(ctx.handler)[outcome].inc());
    const ctx = new MessageContext(message, binding.info, binding.logger, this.container);
    ctx.set(DELIVERY, delivery);
    if (ack !== "none") {
      this.running.add(delivery);
      this.beat();
    }
    let done: Promise<void>;
    try {
      if (ack === "ack-first") delivery.ack();
      done = handle(ctx, binding.propagation, binding.run, messageAttributes);
    } catch (e) {
      done = Promise.reject(e);
    }
    if (done === RESOLVED) return this.finish(ctx, delivery, false, undefined);
    return done.then(
      () => this.finish(ctx, delivery, false, undefined),
      (error: unknown) => this.finish(ctx, delivery, true, error),
    );
  }

  private finish(ctx: MessageContext, delivery: JetStreamDelivery, failed: boolean, error: unknown): Promise<void> {
    const message = ctx.message as JetStreamMessage;
    const { ack } = this.spec;
    this.running.delete(delivery);
    try {
      if (failed) {
        this.series.of(ctx.handler).failed.inc();
        this.failure({ message, logger: ctx.logger, handler: ctx.handler }, delivery, error);
      } else {
        this.series.of(ctx.handler).ok.inc();
        if (!delivery.settled && ack === "manual") {
          ctx.logger.warn({ subject: message.subject, sequence: message.sequence }, "handler returned without settling the message; nak'ed for redelivery");
          delivery.nak(this.retryDelay(message.deliveries));
        } else if (!delivery.settled && ack !== "none") delivery.ack();
      }
    } catch (e) {
      ctx.logger.error({ err: e, subject: message.subject, sequence: message.sequence }, "could not settle the message; the server redelivers it after its ack wait");
    }
    if (ctx.hasContainer) return ctx.dispose().then(() => this.release());
    this.release();
    return RESOLVED;
  }

  /** A slot came free: the oldest waiting messages take the free slots, in a loop (synchronous handlers finish inside `process`). */
  private release(): void {
    this.inFlight--;
    this.series.own.inFlight.dec();
    if (!this.handingOn) {
      this.handingOn = true;
      while (this.inFlight < this.binding.concurrency && this.waiting.length > 0) void this.process(this.waiting.shift() as JetStreamMessage);
      this.handingOn = false;
    }
    this.beat();
    this.wake?.();
    if (this.inFlight === 0) this.idle.notify();
  }

  /**
   * A batch consumer's messages gather in `waiting` from one standing pull (the server holds what is
   * out to `max_ack_pending` = (concurrency + 1) × max) and leave as batches when a batch slot is free
   * (`concurrency` counts batches): `max` messages or `maxBytes` of payload, whichever comes first,
   * or fewer once the first of them waited `expiresMs`.
   */
  private gather(message: JetStreamMessage): void {
    if (this.stopped) return message.nak();
    this.waiting.push(message);
    this.beat();
    this.dispatch();
  }

  private dispatch(): void {
    const batch = this.spec.batch as NonNullable<ConsumeSpec["batch"]>;
    while (this.inFlight < this.binding.concurrency && this.waiting.length > 0) {
      let n = Math.min(batch.max, this.waiting.length);
      if (batch.maxBytes !== undefined) n = this.fitting(n, batch.maxBytes);
      // Not full, and not yet waited for long enough: the timer sends it.
      if (n === this.waiting.length && n < batch.max && !this.fillExpired) {
        this.fillTimer ??= setTimeout(() => {
          this.fillExpired = true;
          this.dispatch();
        }, batch.expiresMs).unref();
        return;
      }
      clearTimeout(this.fillTimer);
      this.fillTimer = undefined;
      this.fillExpired = false;
      const messages = this.waiting.splice(0, n);
      this.beat();
      void this.processBatch(messages);
    }
  }

  /** How many of the first `n` waiting messages fit in `maxBytes` of payload: at least one, so a large message still goes alone. */
  private fitting(n: number, maxBytes: number): number {
    let bytes = (this.waiting[0] as JetStreamMessage).data.length;
    for (let i = 1; i < n; i++) {
      bytes += (this.waiting[i] as JetStreamMessage).data.length;
      if (bytes > maxBytes) return i;
    }
    return n;
  }

  /**
   * One batch through the handler's chain (which decodes each message and leaves out the invalid),
   * then each message settled: the invalid dead-lettered; after a throw, each as a failed message is;
   * else by the handler's per-index result or its own settling, the rest acked (manual: nak'ed).
   */
  private async processBatch(messages: JetStreamMessage[]): Promise<void> {
    this.inFlight++;
    const series = this.series.own;
    series.inFlight.inc();
    this.batchSize?.observe(messages.length);
    const { binding } = this;
    const { ack } = this.spec;
    const deliveries = messages.map((m) => new JetStreamDelivery(m, (outcome) => series[outcome].inc()));
    const batch = new JetStreamBatch(messages, deliveries);
    const first = messages[0] as JetStreamMessage;
    // The batch's own context: no one message's subject, bytes or headers.
    const ctx = new MessageContext({ subject: binding.info.subject, data: new Uint8Array(0) }, binding.info, binding.logger, this.container);
    ctx.set(DELIVERY, batch);
    for (const d of deliveries) this.running.add(d);
    this.beat();
    let failed = false;
    let error: unknown;
    try {
      await handle(
        ctx,
        binding.propagation,
        binding.run,
        () => ({ "natsflow.jetstream.stream": first.stream, "natsflow.jetstream.consumer": first.consumer }),
        messages,
      );
    } catch (e) {
      failed = true;
      error = e;
    }
    for (const d of deliveries) this.running.delete(d);
    (failed ? series.failed : series.ok).inc();
    const settling = (m: JetStreamMessage): Settling => ({ message: m, logger: ctx.logger, handler: binding.info });
    const each = (index: number, settle: (s: Settling, d: JetStreamDelivery) => void) => {
      const message = messages[index] as JetStreamMessage;
      try {
        settle(settling(message), deliveries[index] as JetStreamDelivery);
      } catch (e) {
        ctx.logger.error({ err: e, subject: message.subject, sequence: message.sequence }, "could not settle the message; the server redelivers it after its ack wait");
      }
    };
    for (const { index, error: invalid } of batch.rejected) each(index, (s, d) => this.failure(s, d, invalid));
    const outcomes = failed ? undefined : this.outcomes(ctx, batch.length);
    batch.taken.forEach((index, i) => {
      const outcome = outcomes?.[i];
      each(index, (s, d) => {
        if (failed) this.failure(s, d, error);
        // What the handler settled itself stays so, whatever it returned for it.
        else if (d.settled) return;
        else if (outcome instanceof Error) this.failure(s, d, outcome);
        else if (outcome === "dead-letter") this.settle(s, d, { settle: "dead-letter" }, new HandlerError("dead-lettered by the batch handler", 422));
        else if (ack === "manual" && outcome === undefined) {
          s.logger.warn({ subject: s.message.subject, sequence: s.message.sequence }, "handler returned without settling the message; nak'ed for redelivery");
          d.nak(this.retryDelay(s.message.deliveries));
        } else d.ack();
      });
    });
    if (ctx.hasContainer) await ctx.dispose();
    this.inFlight--;
    series.inFlight.dec();
    this.dispatch();
    this.beat();
    if (this.inFlight === 0) this.idle.notify();
  }

  /** A batch handler's result: one outcome per payload, or none (the whole-batch default). */
  private outcomes(ctx: MessageContext, length: number): readonly BatchOutcome[] | undefined {
    const { result } = ctx;
    if (result === undefined) return undefined;
    if (Array.isArray(result) && result.length === length && result.every((o) => o === undefined || o === "ack" || o === "dead-letter" || o instanceof Error)) return result as BatchOutcome[];
    ctx.logger.warn({ length }, "a batch handler returned something other than one outcome per payload (\"ack\", \"dead-letter\", an Error or undefined); settled as if it returned nothing");
    return undefined;
  }

  private retryDelay(deliveries: number): number {
    const { backoffMs } = this.spec;
    return backoffMs[Math.min(deliveries, backoffMs.length) - 1] ?? 0;
  }

  /**
   * An exception handler's settle outcome is applied as it says; otherwise invalid input is dead at
   * once, and other errors are retried after the backoff until `maxDeliver`.
   */
  private failure(ctx: Settling, delivery: JetStreamDelivery, handled: unknown): void {
    const { message } = ctx;
    // A reply outcome means nothing to a consumer: the error is handled as if no handler had matched.
    const error = handled instanceof HandledError ? handled.cause : handled;
    if (handled instanceof HandledError && "settle" in handled.outcome && !delivery.settled && this.spec.ack !== "none") {
      ctx.logger.warn({ subject: message.subject, sequence: message.sequence, deliveries: message.deliveries, error: (error as Error)?.message, settle: handled.outcome.settle }, "handler failed; settled by its exception handler");
      return this.settle(ctx, delivery, handled.outcome, error);
    }
    // As is one no handler's filter takes: redelivered, it would not match either.
    const permanent = error instanceof ValidationError || error instanceof NoMatchError || (error instanceof HandlerError && error.code === 413);
    const log = { subject: message.subject, sequence: message.sequence, deliveries: message.deliveries };
    if (permanent) ctx.logger.warn({ ...log, error: (error as Error).message }, "handler failed");
    else ctx.logger.error({ ...log, err: error }, "handler failed");
    // ack-first: already acked, so the dead letter is the only copy left; as it is for an ordered consumer.
    const { ack } = this.spec;
    if ((delivery.settled === "ack" && ack === "ack-first") || ack === "none") this.deadLetter(ctx, error);
    else if (delivery.settled) return; // the handler settled it itself
    else if (permanent || message.deliveries >= this.maxDeliver) this.settle(ctx, delivery, { settle: "dead-letter" }, error);
    else delivery.nak(this.retryDelay(message.deliveries));
  }

  private settle(ctx: Settling, delivery: JetStreamDelivery, outcome: SettleOutcome, error: unknown): void {
    const reason = error instanceof Error ? error.message : String(error);
    switch (outcome.settle) {
      case "ack":
        return delivery.ack();
      case "nak":
        return delivery.nak(outcome.delayMs);
      case "term":
        return delivery.term(outcome.reason ?? reason);
      case "dead-letter": {
        const { message } = ctx;
        try {
          this.deadLetter(ctx, error);
        } catch (e) {
          ctx.logger.error({ subject: message.subject, sequence: message.sequence, deliveries: message.deliveries, err: e }, "could not dead-letter the message; nak'ed for redelivery");
          return delivery.nak(this.retryDelay(message.deliveries));
        }
        return delivery.term(reason);
      }
    }
  }

  private deadLetter(ctx: Settling, error: unknown): void {
    const subject = this.spec.deadLetter;
    if (subject === undefined) return;
    const { message } = ctx;
    this.transport.publish(subject, message.data, { headers: deadLetterHeaders(message, error) });
    this.series.of(ctx.handler).dead_letter.inc();
  }
}
