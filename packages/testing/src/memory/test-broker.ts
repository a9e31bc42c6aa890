import { randomUUID } from "node:crypto";

import {
  ConnectionError,
  NoRespondersError,
  RequestTimeoutError,
  type HeadersInit,
  type InboundMessage,
  type MessageHeaders,
  type PublishOptions,
  type RequestOptions,
  type SubscribeOptions,
  type Transport,
  type TransportFactory,
  type TransportStatus,
  type TransportSubscription,
} from "@natsflow/core";

class Headers implements MessageHeaders {
  private readonly map = new Map<string, string[]>();
  constructor(init: HeadersInit) {
    for (const [k, v] of Object.entries(init)) this.map.set(k, typeof v === "string" ? [v] : [...v]);
  }
  get(name: string): string | undefined {
    return this.map.get(name)?.[0];
  }
  values(name: string): string[] {
    return this.map.get(name) ?? [];
  }
  has(name: string): boolean {
    return this.map.has(name);
  }
  keys(): string[] {
    return [...this.map.keys()];
  }
}

/** NATS subject matching: `*` is one token, `>` one or more trailing tokens. */
export function subjectMatches(filter: string, subject: string): boolean {
  const f = filter.split(".");
  const s = subject.split(".");
  for (let i = 0; i < f.length; i++) {
    if (f[i] === ">") return s.length > i;
    if (i >= s.length) return false;
    if (f[i] !== "*" && f[i] !== s[i]) return false;
  }
  return f.length === s.length;
}

interface Sub {
  filter: string;
  queue: string | undefined;
  deliver: (m: InboundMessage) => void;
}

/**
 * An in-process NATS for unit tests: wildcards, queue groups (one member per group gets each
 * message), request/reply and headers. Delivery is asynchronous, as over the wire.
 */
export class TestBroker {
  // Literal subjects are looked up directly (inboxes make thousands of them); wildcards are scanned.
  private readonly literal = new Map<string, Set<Sub>>();
  private readonly wildcard = new Set<Sub>();

  /** A `TransportFactory` for `NatsApp.create({ transport })`; every connection shares this broker. */
  get transport(): TransportFactory {
    return async () => new MemoryTransport(this);
  }

  connect(): Transport {
    return new MemoryTransport(this);
  }

  /** @internal */
  add(sub: Sub): void {
    if (/(^|\.)[*>](\.|$)/.test(sub.filter)) {
      this.wildcard.add(sub);
      return;
    }
    let set = this.literal.get(sub.filter);
    if (!set) this.literal.set(sub.filter, (set = new Set()));
    set.add(sub);
  }

  /** @internal */
  remove(sub: Sub): void {
    if (this.wildcard.delete(sub)) return;
    const set = this.literal.get(sub.filter);
    if (set?.delete(sub) && set.size === 0) this.literal.delete(sub.filter);
  }

  /** Routes a message; returns how many subscriptions received it. */
  route(message: InboundMessage): number {
    const groups = new Map<string, Sub[]>();
    const targets: Sub[] = [];
    const consider = (sub: Sub) => {
      if (sub.queue === undefined) targets.push(sub);
      else groups.set(sub.queue, [...(groups.get(sub.queue) ?? []), sub]);
    };
    for (const sub of this.literal.get(message.subject) ?? []) consider(sub);
    for (const sub of this.wildcard) if (subjectMatches(sub.filter, message.subject)) consider(sub);
    for (const members of groups.values()) targets.push(members[Math.floor(Math.random() * members.length)] as Sub);
    for (const t of targets) queueMicrotask(() => t.deliver(message));
    return targets.length;
  }
}

class MemoryTransport implements Transport {
  private readonly mine = new Set<Sub>();
  private closedFlag = false;
  private resolveClosed!: (e: Error | undefined) => void;
  private readonly closedPromise = new Promise<Error | undefined>((r) => (this.resolveClosed = r));

  constructor(private readonly broker: TestBroker) {}

  private check(): void {
    if (this.closedFlag) throw new ConnectionError("connection closed");
  }

  subscribe(subject: string, options: SubscribeOptions, onMessage: (m: InboundMessage) => void): TransportSubscription {
    this.check();
    const sub: Sub = { filter: subject, queue: options.queue, deliver: onMessage };
    this.broker.add(sub);
    this.mine.add(sub);
    return {
      subject,
      unsubscribe: () => {
        this.broker.remove(sub);
        this.mine.delete(sub);
      },
    };
  }

  publish(subject: string, data: Uint8Array, options: PublishOptions = {}): void {
    this.check();
    this.broker.route({
      subject,
      data,
      reply: options.reply,
      headers: options.headers ? new Headers(options.headers) : undefined,
    });
  }

  request(subject: string, data: Uint8Array, options: RequestOptions): Promise<InboundMessage> {
    this.check();
    const inbox = `_INBOX.${randomUUID()}`;
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const sub = this.subscribe(inbox, {}, (m) => {
        clearTimeout(timer);
        sub.unsubscribe();
        resolve(m);
      });
      timer = setTimeout(() => {
        sub.unsubscribe();
        reject(new RequestTimeoutError(subject, options.timeoutMs));
      }, options.timeoutMs);
      const delivered = this.broker.route({
        subject,
        data,
        reply: inbox,
        headers: options.headers ? new Headers(options.headers) : undefined,
      });
      if (delivered === 0) {
        clearTimeout(timer);
        sub.unsubscribe();
        reject(new NoRespondersError(subject));
      }
    });
  }

  async flush(): Promise<void> {
    this.check();
  }

  async drain(): Promise<void> {
    await this.close();
  }

  async close(): Promise<void> {
    for (const sub of this.mine) this.broker.remove(sub);
    this.mine.clear();
    if (!this.closedFlag) {
      this.closedFlag = true;
      this.resolveClosed(undefined);
    }
  }

  get isClosed(): boolean {
    return this.closedFlag;
  }

  closed(): Promise<Error | undefined> {
    return this.closedPromise;
  }

  onStatus(_listener: (status: TransportStatus) => void): void {
    // An in-process broker never disconnects.
  }
}
