import type { DependencyContainer } from "tsyringe";

import { MessageContext, type OutboundReply } from "../../dispatch/context.js";
import { handle } from "../../dispatch/current.js";
import { errorReply } from "../../dispatch/error-reply.js";
import { IdleWaiters } from "../../dispatch/idle.js";
import { InvalidHeaderError, NoMatchError, OverloadedError, type SubscriptionError } from "../../errors.js";
import type { HandlerTallies, Tally } from "../../observability/metrics.js";
import { RESOLVED } from "../../resolved.js";
import { EndpointStats } from "../../service/endpoint-stats.js";
import type { InboundMessage, Transport, TransportSubscription } from "../../transport/transport.js";
import { SeriesByHandler } from "../handler-series.js";
import type { HandlerBinding, Source, SourceEnv } from "../kind.js";

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
  /** What NATS micro discovery reports for this handler; kept only while discovery is on. */
  readonly stats: EndpointStats | undefined;
  private ended: SubscriptionError | undefined;
  /** Set while `release` hands slots to waiting messages (see there). */
  private handingOn = false;

  // Counts made once: a message pays for adding to plain numbers only.
  private readonly series: SeriesByHandler<HandlerTallies>;
  private readonly overloaded: Tally;
  private readonly unmatched: Tally;
  private readonly errors: Tally;

  private readonly transport: Transport;
  private readonly container: DependencyContainer;

  constructor(
    readonly binding: HandlerBinding,
    { transport, container, metrics, discovery }: SourceEnv,
  ) {
    this.transport = transport;
    this.container = container;
    this.stats = discovery ? new EndpointStats() : undefined;
    const handler = binding.info.name;
    this.series = new SeriesByHandler(binding.info, (name) => metrics.forHandler(name));
    this.overloaded = metrics.tally("messages", handler, "overloaded");
    this.unmatched = metrics.tally("messages", handler, "unmatched");
    this.errors = metrics.tally("subscriptionErrors", handler);
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
    if (this.inFlight < this.binding.concurrency) this.process(message, receivedAt);
    else if (this.waiting.length < this.binding.maxPending) this.waiting.push({ message, receivedAt });
    else this.process(message, receivedAt, true);
  }

  private process(message: InboundMessage, receivedAt: number, overflowing = false): void {
    // Timed only for micro discovery's processing time.
    const startedAt = this.stats ? performance.now() : 0;
    this.inFlight++;
    this.series.own.inFlight.inc();
    const { binding } = this;
    const ctx = new MessageContext(message, binding.info, binding.logger, this.container, receivedAt);
    let done: Promise<void>;
    try {
      done = handle(ctx, binding.propagation, overflowing ? binding.overflow : binding.run);
    } catch (error) {
      done = Promise.reject(error);
    }
    // A chain that finished synchronously is answered in this same turn: no promise, no microtask.
    if (done === RESOLVED) this.succeeded(ctx, startedAt, overflowing);
    else done.then(() => this.succeeded(ctx, startedAt, overflowing), (error: unknown) => this.failed(ctx, startedAt, overflowing, error));
  }

  private succeeded(ctx: MessageContext, startedAt: number, overflowing: boolean): void {
    (overflowing ? this.overloaded : this.series.of(ctx.handler).ok).inc();
    this.finish(ctx, startedAt, overflowing);
  }

  private failed(ctx: MessageContext, startedAt: number, overflowing: boolean, error: unknown): void {
    (error instanceof OverloadedError ? this.overloaded : error instanceof NoMatchError ? this.unmatched : this.series.of(ctx.handler).failed).inc();
    ctx.response = this.failure(ctx, error);
    this.finish(ctx, startedAt, overflowing);
  }

  /** Sends the reply, counts the message for micro discovery, disposes its container, hands its slot on. */
  private finish(ctx: MessageContext, startedAt: number, overflowing: boolean): void {
    const { message } = ctx;
    // The response first: an event's reply subject, never needed, is then never decoded.
    if (ctx.response && message.reply) {
      try {
        this.reply(ctx, message.reply, ctx.response);
      } catch (error) {
        // Headers the handler or a middleware set that cannot be sent: the caller gets a 500 instead, without them.
        if (error instanceof InvalidHeaderError) this.replyFailure(ctx, message.reply, error);
        else this.binding.logger.error({ err: error, subject: message.subject }, "could not send the reply");
      }
    }
    if (this.stats) {
      this.stats.requests++;
      this.stats.processingMs += performance.now() - startedAt;
    }
    if (ctx.hasContainer) void ctx.dispose().then(() => this.release(overflowing));
    else this.release(overflowing);
  }

  private release(overflowing: boolean): void {
    this.inFlight--;
    this.series.own.inFlight.dec();
    // An overflowing message never held a concurrency slot, so it hands none on. A loop, not
    // recursion: synchronous handlers finish inside `process`, and a long queue would grow the stack.
    if (!overflowing && !this.handingOn) {
      this.handingOn = true;
      while (this.inFlight < this.binding.concurrency && this.waiting.length > 0) {
        const next = this.waiting.shift() as { message: InboundMessage; receivedAt: number };
        this.process(next.message, next.receivedAt);
      }
      this.handingOn = false;
    }
    if (this.inFlight === 0 && this.waiting.length === 0) this.idle.notify();
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
    if (this.stats) {
      this.stats.errors++;
      this.stats.lastError = description;
    }
    const err = level === "error" ? { err: error } : { error: (error as Error).message };
    ctx.logger[level]({ ...err, subject: ctx.message.subject }, "handler failed");
    return reply;
  }
}
