import { createContextKey } from "../../dispatch/context.js";
import { NatsflowError } from "../../errors.js";
import type { InboundMessage, JetStreamMessage } from "../../transport/transport.js";

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

/** One message of a batch the handler takes: its decoded payload, the message, and its delivery to settle it by. */
export interface BatchItem<T = unknown> {
  readonly payload: T;
  /** Subject, bytes and headers as they arrived. */
  readonly message: InboundMessage;
  readonly delivery: JetStreamDelivery;
}

/**
 * A batch consumer's `@Delivery()`: the batch's valid messages, in the order of the handler's
 * payload array (`items[i].payload` is `payloads[i]`), each with the delivery to settle it by.
 * Invalid messages were dead-lettered and are not in it.
 */
export class JetStreamBatch<T = unknown> {
  private valid: BatchItem<T>[] = [];
  /** @internal each item's index in `all` */
  readonly taken: number[] = [];
  /** @internal the messages that could not be decoded or validated, by index in `all`, with why */
  readonly rejected: Array<{ readonly index: number; readonly error: unknown }> = [];

  /** @internal made by the consumer for each batch */
  constructor(
    /** @internal every message pulled, valid or not */
    readonly all: readonly JetStreamMessage[],
    /** @internal their deliveries, by the same index */
    readonly deliveries: readonly JetStreamDelivery[],
  ) {}

  get items(): readonly BatchItem<T>[] {
    return this.valid;
  }

  get length(): number {
    return this.valid.length;
  }

  /** @internal decodes each message: the valid ones become `items`, the others `rejected` */
  async decode(decode: (data: Uint8Array) => unknown): Promise<T[]> {
    const payloads: T[] = [];
    for (const [index, message] of this.all.entries()) {
      try {
        const decoded = decode(message.data);
        // Without a schema decoding is synchronous: no await per message.
        const payload = (decoded instanceof Promise ? await decoded : decoded) as T;
        payloads.push(payload);
        this.valid.push({ payload, message, delivery: this.deliveries[index] as JetStreamDelivery });
        this.taken.push(index);
      } catch (error) {
        this.rejected.push({ index, error });
      }
    }
    return payloads;
  }
}

/** Where the consumer leaves the delivery (a batch consumer: the batch) for `@Delivery()` parameters. */
export const DELIVERY = createContextKey<JetStreamDelivery | JetStreamBatch>("natsflow:delivery");
