import type { DependencyContainer } from "tsyringe";

import { MessageContext, type OutboundReply } from "../../dispatch/context.js";
import { handle } from "../../dispatch/current.js";
import { errorReply } from "../../dispatch/error-reply.js";
import { IdleWaiters } from "../../dispatch/idle.js";
import { InvalidHeaderError, NoMatchError, OverloadedError, type SubscriptionError } from "../../errors.js";
import type { Metrics } from "../../observability/metrics.js";
import { EndpointStats } from "../../service/endpoint-stats.js";
import type { InboundMessage, Transport, TransportSubscription } from "../../transport/transport.js";
import { SeriesByHandler } from "../handler-series.js";
import type { HandlerBinding, Source } from "../kind.js";

/**
 * Where a message enters: one subscription per handler, or per group of handlers sharing it (its binding routes by filter). Messages run concurrently up to the handler's
 * limit (the rest wait in arrival order), each through the handler's composed chain; when the chain
 * is done, the context's `response` leaves for the reply subject — the one place replies are sent.
 */
export class Subscriber implements Source {
  private subscription: TransportSubscription | undefined;
  private inFlight = 0;
  /** Messages waiting for a slot, with their arrival times (deadlines count from arrival). */
  private readonly waiting: Array<{ message: InboundMessage; receivedAt: number }> = [];
  private readonly idle = new IdleWaiters();
  /** What NATS micro discovery reports for this handler. */
  readonly stats = new EndpointStats();
  private ended: SubscriptionError | undefined;

  // Label children bound once: a message pays for the increments only.
  private readonly series: SeriesByHandler<ReturnType<Metrics["forHandler"]>>;
  private readonly overloaded;
  private readonly unmatched;
  private readonly errors;

  constructor(
    readonly binding: HandlerBinding,
    private readonly transport: Transport,
    private readonly container: DependencyContainer,
    metrics: Metrics,
  ) {
    const handler = binding.info.name;
    this.series = new SeriesByHandler(binding.info, (name) => metrics.forHandler(name));
    this.overloaded = metrics.messages.labels(handler, "overloaded");
    this.unmatched = metrics.messages.labels(handler, "unmatched");
    this.errors = metrics.subscriptionErrors.labels(handler);
  }

  get pending(): number {
    return this.inFlight + this.waiting.length;
  }

  /** Set when the server ended the subscription: the handler gets no more messages, the app is not ready. */
  get endedBy(): SubscriptionError | undefined {
    return this.ended;
  }

  start(): void {
    const { subject, queue } = this.binding.info;
    this.subscription = this.transport.subscribe(subject, { queue, onError: (e) => this.fail(e) }, (m) => this.accept(m));
  }

  /**
   * Take no new messages. A drain, not an unsubscribe: every message the server sent before it heard
   * of the stop is still handled and answered (see `settled`) instead of left to time out.
   */
  async stop(): Promise<void> {
    const subscription = this.subscription;
    this.subscription = undefined;
    await subscription?.drain();
  }

  private fail(error: SubscriptionError): void {
    this.ended = error;
    this.subscription = undefined;
    this.errors.inc();
    this.binding.logger.error({ err: error, subject: error.subject }, "subscription ended by the server");
  }

  /** Resolves once every received message has been handled and answered. */
  settled(): Promise<void> {
    return this.idle.wait(this.pending === 0);
  }

  private accept(message: InboundMessage): void {
    const receivedAt = Date.now();
    if (this.inFlight < this.binding.concurrency) void this.process(message, receivedAt);
    else if (this.waiting.length < this.binding.maxPending) this.waiting.push({ message, receivedAt });
    else void this.process(message, receivedAt, true);
  }

  private async process(message: InboundMessage, receivedAt: number, overflowing = false): Promise<void> {
    const startedAt = performance.now();
    this.inFlight++;
    this.series.own.inFlight.inc();
    const { binding } = this;
    const ctx = new MessageContext(message, binding.info, binding.logger, this.container, receivedAt);
    try {
      await handle(ctx, binding.propagation, overflowing ? binding.overflow : binding.run);
      (overflowing ? this.overloaded : this.series.of(ctx.handler).ok).inc();
    } catch (error) {
      (error instanceof OverloadedError ? this.overloaded : error instanceof NoMatchError ? this.unmatched : this.series.of(ctx.handler).failed).inc();
      ctx.response = this.failure(ctx, error);
    }
    if (message.reply && ctx.response) {
      try {
        this.reply(ctx, message.reply, ctx.response);
      } catch (error) {
        // Headers the handler or a middleware set that cannot be sent: the caller gets a 500 instead, without them.
        if (error instanceof InvalidHeaderError) this.replyFailure(ctx, message.reply, error);
        else binding.logger.error({ err: error, subject: message.subject }, "could not send the reply");
      }
    }
    this.stats.requests++;
    this.stats.processingMs += performance.now() - startedAt;
    if (ctx.hasContainer) await ctx.dispose();
    this.inFlight--;
    this.series.own.inFlight.dec();
    // An overflowing message never held a concurrency slot, so it hands none on.
    const next = overflowing ? undefined : this.waiting.shift();
    if (next) void this.process(next.message, next.receivedAt);
    else if (this.inFlight === 0 && this.waiting.length === 0) this.idle.notify();
  }

  private reply(ctx: MessageContext, to: string, response: OutboundReply): void {
    let headers = ctx.replyHeaders(response);
    if (ctx.trace) {
      headers = { ...headers };
      this.binding.propagation.tracing.inject(ctx.trace, headers as Record<string, string>);
    }
    this.transport.publish(to, response.data, headers ? { headers } : {});
  }

  private replyFailure(ctx: MessageContext, to: string, error: InvalidHeaderError): void {
    const { data, headers } = this.failure(ctx, error);
    const header = ctx.correlationHeader;
    try {
      this.transport.publish(to, data, { headers: header === undefined ? headers : { ...headers, [header]: ctx.correlationId as string } });
    } catch (e) {
      this.binding.logger.error({ err: e, subject: ctx.message.subject }, "could not send the reply");
    }
  }

  /** An error no middleware handled: log it (with the stack for server faults), answer with as little as is safe. */
  private failure(ctx: MessageContext, error: unknown): OutboundReply {
    const { reply, description, level } = errorReply(error);
    this.stats.errors++;
    this.stats.lastError = description;
    const err = level === "error" ? { err: error } : { error: (error as Error).message };
    ctx.logger[level]({ ...err, subject: ctx.message.subject }, "handler failed");
    return reply;
  }
}
