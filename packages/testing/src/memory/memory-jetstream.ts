import {
  NatsflowError,
  PubAckError,
  type ConsumerConfig,
  type HeadersInit,
  type JetStreamMessage,
  type JetStreamPublishOptions,
  type JetStreamPull,
  type MessageHeaders,
  type PubAck,
  type PullConsumer,
  type StartAt,
  type StreamConfig,
} from "@natsflow/core";

import { Headers, subjectMatches } from "./subjects.js";

/** One message as a stream stores it. */
export interface StoredMessage {
  readonly seq: number;
  readonly subject: string;
  readonly data: Uint8Array;
  readonly headers: MessageHeaders | undefined;
  readonly time: Date;
}

/** What a server's consumer info reports about progress, as TestBroker keeps it. */
export interface ConsumerState {
  /** Matching messages not delivered yet. */
  numPending: number;
  /** Delivered and not yet acked, nak'ed or termed. */
  numAckPending: number;
  /** Messages out or due again that were delivered more than once (the server forgets them once acked). */
  numRedelivered: number;
  /** The highest stream sequence below which every delivered message is settled. */
  ackFloor: number;
}

interface Request {
  remaining: number;
  onMessage: (m: JetStreamMessage) => void;
  finish: () => void;
}

const noop = () => undefined;

interface Out {
  deliveries: number;
  timer: NodeJS.Timeout;
}

/**
 * A durable consumer with explicit acks (ack wait, nak delays, term, max_deliver, max_ack_pending),
 * pulled or pushed; or, given where to start, an ordered one: no acks, each message once.
 */
class MemoryConsumer implements PullConsumer {
  /** The next stream sequence not yet delivered. */
  private cursor = 1;
  private readonly out = new Map<number, Out>();
  /** Sequences to (re)deliver before the cursor's, with the deliveries they had; ready once their delay passed. */
  private readonly due = new Map<number, { deliveries: number; ready: boolean }>();
  private readonly requests: Request[] = [];
  private readonly acks: boolean;

  constructor(
    private readonly stream: MemoryStream,
    public config: ConsumerConfig,
    startAt?: StartAt,
  ) {
    this.acks = startAt === undefined;
    if (startAt !== undefined) this.start(startAt);
  }

  private start(at: StartAt): void {
    const matching = this.stream.messages.filter((m) => this.wants(m));
    const after = this.stream.lastSequence + 1;
    if (at === "first") return;
    if (at === "new") this.cursor = after;
    else if (at === "last") this.cursor = matching.at(-1)?.seq ?? after;
    else if (at === "last-per-subject") {
      this.cursor = after;
      const latest = new Map(matching.map((m) => [m.subject, m.seq]));
      for (const seq of latest.values()) this.due.set(seq, { deliveries: 0, ready: true });
    } else if ("sequence" in at) this.cursor = at.sequence;
    else this.cursor = matching.find((m) => m.time >= at.time)?.seq ?? after;
  }

  state(): ConsumerState {
    let ackFloor = this.cursor - 1;
    for (const seq of [...this.out.keys(), ...this.due.keys()]) ackFloor = Math.min(ackFloor, seq - 1);
    return {
      numPending: this.stream.messages.filter((m) => m.seq >= this.cursor && this.wants(m)).length,
      numAckPending: this.out.size,
      numRedelivered: [...this.out.values(), ...this.due.values()].filter((d) => d.deliveries > 1).length,
      ackFloor,
    };
  }

  pull(options: { max: number; expiresMs: number }, onMessage: (m: JetStreamMessage) => void): JetStreamPull {
    return this.request(options.max, onMessage, options.expiresMs);
  }

  consume(_options: { max: number }, onMessage: (m: JetStreamMessage) => void): JetStreamPull {
    // Refilled as messages arrive, so only max_ack_pending bounds it, as on a server.
    return this.request(Infinity, onMessage, undefined);
  }

  private request(max: number, onMessage: (m: JetStreamMessage) => void, expiresMs: number | undefined): JetStreamPull {
    let finish!: () => void;
    const done = new Promise<void>((resolve) => (finish = resolve));
    const timer = expiresMs === undefined ? undefined : setTimeout(() => request.finish(), expiresMs).unref();
    const request: Request = {
      remaining: max,
      onMessage,
      finish: () => {
        clearTimeout(timer);
        const i = this.requests.indexOf(request);
        if (i >= 0) this.requests.splice(i, 1);
        finish();
      },
    };
    this.requests.push(request);
    this.pump();
    return { done, stop: () => request.finish() };
  }

  private wants(m: StoredMessage): boolean {
    return this.config.filterSubject === "" || subjectMatches(this.config.filterSubject, m.subject);
  }

  /** Hands the next messages to waiting requests while max_ack_pending allows. */
  pump(): void {
    while (this.requests.length > 0 && (this.config.maxAckPending <= 0 || this.out.size < this.config.maxAckPending)) {
      const next = this.next();
      if (!next) return;
      const request = this.requests[0] as Request;
      const message = this.deliver(next.message, next.deliveries + 1);
      queueMicrotask(() => request.onMessage(message));
      if (--request.remaining === 0) request.finish();
    }
  }

  private next(): { message: StoredMessage; deliveries: number } | undefined {
    const ready = [...this.due].filter(([, d]) => d.ready).sort(([a], [b]) => a - b)[0];
    if (ready) {
      this.due.delete(ready[0]);
      const stored = this.stream.get(ready[0]);
      // Dropped by a stream limit meanwhile: nothing to redeliver.
      return stored ? { message: stored, deliveries: ready[1].deliveries } : this.next();
    }
    const fresh = this.stream.messages.find((m) => m.seq >= this.cursor && this.wants(m));
    if (!fresh) return undefined;
    this.cursor = fresh.seq + 1;
    return { message: fresh, deliveries: 0 };
  }

  private deliver(stored: StoredMessage, deliveries: number): JetStreamMessage {
    if (!this.acks) return { ...this.view(stored, deliveries), ack: noop, nak: noop, term: noop, working: noop };
    const { seq } = stored;
    this.out.set(seq, { deliveries, timer: this.ackTimer(seq) });
    // Only the current delivery settles it: one whose ack wait passed (redelivered or not) is ignored.
    const settle = (redeliverAfter: number | undefined) => {
      const out = this.out.get(seq);
      if (!out || out.deliveries !== deliveries) return;
      clearTimeout(out.timer);
      this.out.delete(seq);
      if (redeliverAfter !== undefined) this.redeliver(seq, deliveries, redeliverAfter);
      this.pump();
    };
    return {
      ...this.view(stored, deliveries),
      ack: () => settle(undefined),
      nak: (delayMs) => settle(delayMs ?? 0),
      term: () => settle(undefined),
      working: () => {
        const out = this.out.get(seq);
        if (out?.deliveries !== deliveries) return;
        clearTimeout(out.timer);
        out.timer = this.ackTimer(seq);
      },
    };
  }

  private view(stored: StoredMessage, deliveries: number) {
    return {
      subject: stored.subject,
      data: stored.data,
      reply: undefined,
      headers: stored.headers,
      stream: this.stream.config.name,
      consumer: this.config.durable,
      sequence: stored.seq,
      deliveries,
    };
  }

  private ackTimer(seq: number): NodeJS.Timeout {
    return setTimeout(() => {
      const out = this.out.get(seq);
      if (!out) return;
      this.out.delete(seq);
      this.redeliver(seq, out.deliveries, 0);
      this.pump();
    }, this.config.ackWaitMs).unref();
  }

  private redeliver(seq: number, deliveries: number, afterMs: number): void {
    if (this.config.maxDeliver > 0 && deliveries >= this.config.maxDeliver) return;
    // Marked by the timer, not by the clock: a timer may fire a millisecond before Date.now() gets there.
    const due = { deliveries, ready: false };
    this.due.set(seq, due);
    setTimeout(() => {
      due.ready = true;
      this.pump();
    }, afterMs).unref();
  }
}

/**
 * A stream in memory: its messages by sequence, msgId deduplication, `maxAge`, `maxMsgs` and
 * per-subject limits, `Nats-Rollup: sub`, and its durable consumers. Key-value buckets are views of one.
 */
export class MemoryStream {
  readonly consumers = new Map<string, MemoryConsumer>();
  private readonly ephemeral = new Set<MemoryConsumer>();
  private ordered = 0;
  private readonly stored: StoredMessage[] = [];
  /** The newest message of each subject: what a KV bucket reads. */
  private readonly last = new Map<string, StoredMessage>();
  private readonly listeners = new Set<(m: StoredMessage) => void>();
  private lastSeq = 0;
  private readonly msgIds = new Map<string, { seq: number; at: number }>();

  constructor(public config: StreamConfig) {}

  /** The live messages, oldest first. */
  get messages(): readonly StoredMessage[] {
    this.expire();
    return this.stored;
  }

  /** Messages past `maxAge` are gone without notice, as on a server. */
  private expire(): void {
    const { maxAgeMs } = this.config;
    if (maxAgeMs <= 0) return;
    const oldest = Date.now() - maxAgeMs;
    const live = this.stored.findIndex((m) => m.time.getTime() > oldest);
    this.drop(this.stored.slice(0, live < 0 ? this.stored.length : live));
  }

  get lastSequence(): number {
    return this.lastSeq;
  }

  get(seq: number): StoredMessage | undefined {
    return this.messages.find((m) => m.seq === seq);
  }

  /** The newest live message of each subject. */
  latest(): StoredMessage[] {
    this.expire();
    return [...this.last.values()];
  }

  lastOn(subject: string): StoredMessage | undefined {
    this.expire();
    return this.last.get(subject);
  }

  /** Called with every message stored from now on; returns the function that stops it. */
  onStore(listener: (m: StoredMessage) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  stores(subject: string): boolean {
    return this.config.subjects.some((f) => subjectMatches(f, subject));
  }

  store(subject: string, data: Uint8Array, headers: HeadersInit | undefined, options: JetStreamPublishOptions = {}): PubAck {
    const name = this.config.name;
    if (options.expect?.stream !== undefined && options.expect.stream !== name) {
      throw new PubAckError(subject, "expected stream does not match");
    }
    if (options.expect?.lastSequence !== undefined && options.expect.lastSequence !== this.lastSeq) {
      throw new PubAckError(subject, `wrong last sequence: ${this.lastSeq}`);
    }
    const now = Date.now();
    const id = options.msgId;
    const seen = id === undefined ? undefined : this.msgIds.get(id);
    if (seen && now - seen.at < this.config.duplicateWindowMs) return { stream: name, seq: seen.seq, duplicate: true };
    const all = id === undefined ? headers : { ...headers, "Nats-Msg-Id": id };
    const message: StoredMessage = { seq: ++this.lastSeq, subject, data: Uint8Array.from(data), headers: all ? new Headers(all) : undefined, time: new Date(now) };
    if (id !== undefined) this.msgIds.set(id, { seq: message.seq, at: now });
    const ofSubject = this.messages.filter((m) => m.subject === subject);
    // A rollup (a KV purge) replaces the subject's history; otherwise it keeps maxMsgsPerSubject.
    const perSubject = message.headers?.get("Nats-Rollup") === "sub" ? 1 : (this.config.maxMsgsPerSubject ?? -1);
    if (perSubject > 0) this.drop(ofSubject.slice(0, Math.max(0, ofSubject.length + 1 - perSubject)));
    this.stored.push(message);
    this.last.set(subject, message);
    if (this.config.maxMsgs > 0) this.drop(this.stored.slice(0, Math.max(0, this.stored.length - this.config.maxMsgs)));
    for (const listener of this.listeners) listener(message);
    for (const c of this.consumers.values()) c.pump();
    for (const c of this.ephemeral) c.pump();
    return { stream: name, seq: message.seq, duplicate: false };
  }

  private drop(messages: readonly StoredMessage[]): void {
    if (messages.length === 0) return;
    const gone = new Set(messages);
    for (let i = this.stored.length - 1; i >= 0; i--) if (gone.has(this.stored[i] as StoredMessage)) this.stored.splice(i, 1);
    for (const m of messages) if (this.last.get(m.subject) === m) this.last.delete(m.subject);
  }

  consumer(durable: string): MemoryConsumer {
    const c = this.consumers.get(durable);
    if (!c) throw new NatsflowError(`consumer not found: ${durable} on stream ${this.config.name}`);
    return c;
  }

  /** An ordered consumer: ephemeral, so not listed among the durables. */
  orderedConsumer(filterSubject: string, startAt: StartAt): MemoryConsumer {
    const name = `ordered-${++this.ordered}`;
    const consumer = new MemoryConsumer(this, { stream: this.config.name, durable: name, filterSubject, ackWaitMs: 0, maxDeliver: 1, backoffMs: [], maxAckPending: 0 }, startAt);
    this.ephemeral.add(consumer);
    return consumer;
  }

  addConsumer(config: ConsumerConfig): void {
    const existing = this.consumers.get(config.durable);
    if (existing) existing.config = config;
    else this.consumers.set(config.durable, new MemoryConsumer(this, config));
  }
}
