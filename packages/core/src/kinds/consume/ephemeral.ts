import type { Logger } from "../../logging/logger.js";
import type { ConsumerConfig, JetStream, JetStreamMessage, JetStreamPull, PullConsumer } from "../../transport/transport.js";

/**
 * An ephemeral consumer that is made again when the server removed it (its instance was cut off for
 * longer than its inactive threshold), from the oldest message it delivered and did not see acked or
 * terminated, else the one after the last it delivered: nothing is missed; a few may come twice.
 */
export class EphemeralPullConsumer implements PullConsumer {
  private last = 0;
  /** Delivered, not yet acked or terminated: lost with the consumer unless it is made again from them. */
  private readonly open = new Set<number>();

  private constructor(
    private readonly js: JetStream,
    private config: ConsumerConfig,
    private current: PullConsumer,
    private readonly logger: Logger,
  ) {}

  static async open(js: JetStream, config: ConsumerConfig, logger: Logger): Promise<EphemeralPullConsumer> {
    return new EphemeralPullConsumer(js, config, await js.consumer(config.stream, config.durable), logger);
  }

  pull(options: { max: number; expiresMs: number }, onMessage: (message: JetStreamMessage) => void): JetStreamPull {
    return this.guard(this.current.pull(options, this.tracked(onMessage)));
  }

  consume(options: { max: number; expiresMs: number }, onMessage: (message: JetStreamMessage) => void): JetStreamPull {
    // The client would otherwise wait for the consumer to come back, which an ephemeral one never does.
    return this.guard(this.current.consume({ ...options, endIfMissing: true }, this.tracked(onMessage)));
  }

  private tracked(onMessage: (message: JetStreamMessage) => void): (message: JetStreamMessage) => void {
    return (m) => {
      const seq = m.sequence;
      this.last = Math.max(this.last, seq);
      this.open.add(seq);
      // Named one by one: a transport's message may keep its fields and methods on a prototype.
      onMessage({
        subject: m.subject,
        data: m.data,
        reply: m.reply,
        headers: m.headers,
        stream: m.stream,
        consumer: m.consumer,
        sequence: seq,
        deliveries: m.deliveries,
        ack: () => {
          this.open.delete(seq);
          m.ack();
        },
        nak: (delayMs) => m.nak(delayMs),
        term: (reason) => {
          this.open.delete(seq);
          m.term(reason);
        },
        working: () => m.working(),
      });
    };
  }

  /** A pull that failed because the consumer is gone makes it again; the caller opens the next pull as after any failure. */
  private guard(pull: JetStreamPull): JetStreamPull {
    return {
      stop: () => pull.stop(),
      done: pull.done.catch(async (error: unknown) => {
        await this.recreateIfGone().catch(() => undefined);
        throw error;
      }),
    };
  }

  private async recreateIfGone(): Promise<void> {
    const { stream, durable } = this.config;
    if (await this.js.consumerInfo(stream, durable)) return;
    const from = this.open.size > 0 ? Math.min(...this.open) : this.last + 1;
    if (this.last > 0) this.config = { ...this.config, startAt: { sequence: from } };
    this.open.clear();
    await this.js.addConsumer(this.config);
    this.current = await this.js.consumer(stream, durable);
    this.logger.warn({ stream, consumer: durable, startAt: this.config.startAt }, "the server removed this instance's ephemeral consumer; made it again");
  }
}
