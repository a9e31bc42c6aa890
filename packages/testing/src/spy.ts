import { AssertionError } from "node:assert";
import { inspect, isDeepStrictEqual } from "node:util";

import type { AnyPublisherDeclaration, MessageHeaders, Middleware, NatsAppOptions, OutgoingMessage, OutgoingMiddleware } from "@natsflow/core";

import { subjectMatches } from "./memory/subjects.js";

/** One message a handler handled, recorded once the handler finished. */
export interface HandlerCall {
  readonly handler: string;
  readonly subject: string;
  /** As the handler got it: decoded and validated. */
  readonly payload: unknown;
  readonly headers: MessageHeaders | undefined;
  readonly data: Uint8Array;
  /** What the handler returned (undefined when it threw). */
  readonly result: unknown;
  /** What it threw, when it did. */
  readonly error: unknown;
}

/** One send, as the app-level chain passes it on: after the app's other outgoing middleware, before router, publisher and `@Publish` middleware. */
export interface SentCall {
  readonly operation: OutgoingMessage["operation"];
  readonly subject: string;
  /** The value that was encoded, when the sender had one (the bytes for `publishBytes`). */
  readonly payload: unknown;
  readonly data: Uint8Array;
  readonly headers: Readonly<Record<string, string | readonly string[]>>;
  /** A declared publisher's name, `Class.method @Publish`, or `broker`. */
  readonly sender: string;
}

/** What an argument assertion compares: the payload (deep, strict equality) and, when given, these headers. */
export interface Expected {
  headers?: Record<string, string>;
}

const DEFAULT_WAIT_MS = 5000;

function headerOf(headers: MessageHeaders | Readonly<Record<string, string | readonly string[]>> | undefined, name: string): string | undefined {
  if (headers === undefined) return undefined;
  if (typeof (headers as MessageHeaders).get === "function") return (headers as MessageHeaders).get(name);
  const value = (headers as Record<string, string | readonly string[]>)[name];
  return typeof value === "string" ? value : value?.[0];
}

/** The calls of one handler, or the sends to one subject: what they were, waiting for the n-th, asserting arguments. */
export class CallSpy<C extends { readonly payload: unknown; readonly headers: unknown }> {
  readonly calls: C[] = [];
  private waiters: { n: number; resolve: (call: C) => void }[] = [];

  constructor(readonly label: string) {}

  get callCount(): number {
    return this.calls.length;
  }

  get lastCall(): C | undefined {
    return this.calls.at(-1);
  }

  /** @internal records a call and wakes whoever waits for it */
  record(call: C): void {
    this.calls.push(call);
    const n = this.calls.length;
    this.waiters = this.waiters.filter((w) => (w.n === n ? (w.resolve(call), false) : true));
  }

  /**
   * Resolves with the n-th call (1-based; default the first) once there is one; rejects after
   * `timeoutMs` (default 5 s) saying how many there were.
   */
  called(n = 1, options: { timeoutMs?: number } = {}): Promise<C> {
    if (!Number.isInteger(n) || n < 1) return Promise.reject(new RangeError(`called(n): n must be a whole number ≥ 1, got ${String(n)}`));
    const done = this.calls[n - 1];
    if (done) return Promise.resolve(done);
    const timeoutMs = options.timeoutMs ?? DEFAULT_WAIT_MS;
    return new Promise<C>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new AssertionError({ message: `${this.label} was called ${this.calls.length} time(s), not ${n}, within ${timeoutMs} ms${this.describeCalls()}` }));
      }, timeoutMs);
      const waiter = {
        n,
        resolve: (call: C) => {
          clearTimeout(timer);
          resolve(call);
        },
      };
      this.waiters.push(waiter);
    });
  }

  /** Throws unless some call had this payload (and these headers). */
  assertCalledWith(payload: unknown, expected: Expected = {}): C {
    const match = this.calls.find((c) => this.matches(c, payload, expected));
    if (!match) this.fail(`${this.label} was never called with ${inspect(payload, { depth: 6 })}${expected.headers ? ` and headers ${inspect(expected.headers)}` : ""}`, payload);
    return match as C;
  }

  /** Throws unless there was exactly one call, with this payload (and these headers). */
  assertCalledOnceWith(payload: unknown, expected: Expected = {}): C {
    if (this.calls.length !== 1) this.fail(`${this.label} was called ${this.calls.length} time(s), not once`, payload);
    return this.assertCalledWith(payload, expected);
  }

  assertNotCalled(): void {
    if (this.calls.length > 0) this.fail(`${this.label} was called ${this.calls.length} time(s), expected none`, undefined);
  }

  /** Forgets the calls so far. */
  reset(): void {
    this.calls.length = 0;
  }

  private matches(call: C, payload: unknown, expected: Expected): boolean {
    if (!isDeepStrictEqual(call.payload, payload)) return false;
    const headers = call.headers as Parameters<typeof headerOf>[0];
    return Object.entries(expected.headers ?? {}).every(([name, value]) => headerOf(headers, name) === value);
  }

  private describeCalls(): string {
    if (this.calls.length === 0) return "";
    return `; payloads: ${this.calls.map((c) => inspect(c.payload, { depth: 6, breakLength: Infinity })).join(", ")}`;
  }

  private fail(message: string, expected: unknown): never {
    throw new AssertionError({ message: `${message}${this.describeCalls()}`, expected, actual: this.calls.map((c) => c.payload), operator: "calledWith" });
  }
}

/**
 * Records what an app's handlers received and what it sent, through its public hooks: an app
 * middleware (first, so it sees every message that reaches the app middleware — decoded and
 * validated) and an outgoing middleware (last, so it sees each send as it leaves). Works the same on
 * TestBroker and a real server. Install it at create: `NatsApp.create(spy.wrap(options))`.
 */
export class AppSpy {
  private readonly handlers = new Map<string, CallSpy<HandlerCall>>();
  private readonly sends: SentCall[] = [];
  private readonly sentSpies: { matches: (s: SentCall) => boolean; spy: CallSpy<SentCall> }[] = [];

  /** The incoming half: an app middleware recording each handler's call once it finished. */
  readonly middleware: Middleware = async (ctx, next) => {
    const base = { handler: ctx.handler.name, subject: ctx.message.subject, payload: ctx.payload, headers: ctx.message.headers, data: ctx.message.data };
    try {
      await next();
    } catch (error) {
      this.handler(base.handler).record({ ...base, result: undefined, error });
      throw error;
    }
    this.handler(base.handler).record({ ...base, result: ctx.result, error: undefined });
  };

  /** The outgoing half: records each send that gets past every other outgoing middleware. */
  readonly outgoingMiddleware: OutgoingMiddleware = (m, next) => {
    const sent: SentCall = { operation: m.operation, subject: m.subject, payload: m.value, data: m.data, headers: { ...m.headers }, sender: m.sender };
    this.sends.push(sent);
    for (const s of this.sentSpies) if (s.matches(sent)) s.spy.record(sent);
    return next();
  };

  /** `options` with the spy's middleware added: first of the app middleware, last of the outgoing. */
  wrap<O extends NatsAppOptions>(options: O): O {
    return { ...options, middleware: [this.middleware, ...(options.middleware ?? [])], outgoingMiddleware: [...(options.outgoingMiddleware ?? []), this.outgoingMiddleware] };
  }

  /** The calls of the handler named `name` (`Class.method`, or an `app.subscribe` handler's name). */
  handler(name: string): CallSpy<HandlerCall> {
    let spy = this.handlers.get(name);
    if (!spy) this.handlers.set(name, (spy = new CallSpy(`handler ${name}`)));
    return spy;
  }

  /** Sends to subjects matching `subject` (wildcards allowed), by any sender; those made before asking included. */
  sent(subject: string): CallSpy<SentCall> {
    return this.watch(`sends to ${subject}`, (s) => subjectMatches(subject, s.subject));
  }

  /** Sends by a declared publisher. */
  publisher(declaration: AnyPublisherDeclaration): CallSpy<SentCall> {
    const name = declaration.options.name ?? declaration.subject;
    return this.watch(`publisher ${name}`, (s) => s.sender === name);
  }

  private watch(label: string, matches: (s: SentCall) => boolean): CallSpy<SentCall> {
    const spy = new CallSpy<SentCall>(label);
    for (const s of this.sends) if (matches(s)) spy.record(s);
    this.sentSpies.push({ matches, spy });
    return spy;
  }
}

/** A spy for one app: pass `spy.wrap(options)` to `NatsApp.create`. */
export function createSpy(): AppSpy {
  return new AppSpy();
}
