import { createContextKey } from "../../dispatch/context.js";
import { NatsflowError } from "../../errors.js";
import type { JetStreamMessage } from "../../transport/transport.js";

export type Settlement = "ack" | "nak" | "term";

/**
 * The JetStream side of one delivery, for `@Delivery()` parameters: where it came from, how often
 * it was delivered, and the way to settle it. A message is settled once; a second call throws.
 */
export class JetStreamDelivery {
  private outcome: Settlement | undefined;

  /** @internal made by the consumer for each delivery */
  constructor(
    private readonly message: JetStreamMessage,
    private readonly onSettle: (outcome: Settlement) => void,
  ) {}

  get stream(): string {
    return this.message.stream;
  }

  get consumer(): string {
    return this.message.consumer;
  }

  /** The message's sequence in its stream. */
  get sequence(): number {
    return this.message.sequence;
  }

  /** 1 on the first delivery. */
  get deliveries(): number {
    return this.message.deliveries;
  }

  /** 0 on the first delivery. */
  get redeliveries(): number {
    return this.message.deliveries - 1;
  }

  /** How it was settled so far, if at all. */
  get settled(): Settlement | undefined {
    return this.outcome;
  }

  ack(): void {
    this.settle("ack", () => this.message.ack());
  }

  /** Redeliver, after `delayMs` when given. */
  nak(delayMs?: number): void {
    this.settle("nak", () => this.message.nak(delayMs));
  }

  /** Never redeliver; `reason` shows in the server's advisory. */
  term(reason?: string): void {
    this.settle("term", () => this.message.term(reason));
  }

  /** Restarts the server's ack wait; sent automatically while a handler runs. */
  working(): void {
    if (!this.outcome) this.message.working();
  }

  private settle(outcome: Settlement, send: () => void): void {
    if (this.outcome) {
      throw new NatsflowError(`${this.stream} message ${this.sequence} was already settled (${this.outcome}); it cannot also be ${outcome}ed`);
    }
    // Recorded once sent: a settlement the connection refused leaves the message to the server's ack wait.
    send();
    this.outcome = outcome;
    this.onSettle(outcome);
  }
}

/** Where the consumer leaves the delivery for `@Delivery()` parameters. */
export const DELIVERY = createContextKey<JetStreamDelivery>("natsflow:delivery");
