import type { Context } from "@opentelemetry/api";

import type { Constructor } from "../di/providers.js";
import { currentOutgoing, outbound } from "../dispatch/current.js";
import { compose } from "../middleware/compose.js";
import type { Next } from "../middleware/middleware.js";
import type { Tracing } from "../observability/tracing.js";
import { RESOLVED } from "../resolved.js";
import { checkJetStreamSend, checkSend, checkSubject } from "../subjects.js";
import type { HeadersInit, JetStreamPublishOptions, Transport } from "../transport/transport.js";
import type { OutgoingChain, OutgoingMessage } from "./outgoing-message.js";

export type { OutgoingChain, OutgoingMessage } from "./outgoing-message.js";

/** Onion middleware around a send: work before `await next()` runs before it leaves; throwing refuses it (nothing is sent). */
export type OutgoingMiddleware = (message: OutgoingMessage, next: Next) => Promise<void>;

/** An outgoing middleware class, created once through the app's container, so it can inject services. */
export interface NatsOutgoingMiddleware {
  use(message: OutgoingMessage, next: Next): Promise<void>;
}

/** What `outgoingMiddleware` accepts: a function, or an injectable class. */
export type OutgoingMiddlewareSpec = OutgoingMiddleware | Constructor<NatsOutgoingMiddleware>;

export function isOutgoingMiddlewareClass(spec: OutgoingMiddlewareSpec): spec is Constructor<NatsOutgoingMiddleware> {
  return typeof (spec.prototype as { use?: unknown } | undefined)?.use === "function";
}

interface Sending extends OutgoingMessage {
  /** The trace context of the message being handled, taken before the chain ran. */
  readonly parent: Context | undefined;
  readonly timeoutMs: number;
  readonly jetstream: Omit<JetStreamPublishOptions, "headers"> | undefined;
}

/** How a send made now is correlated and traced: its headers, and its span when tracing is on. */
export function prepare(tracing: Tracing, operation: "publish" | "request", subject: string, data: Uint8Array, headers: HeadersInit | undefined) {
  const out = outbound(headers);
  if (!tracing.enabled) return { headers: out.headers, span: undefined };
  // Before the span is named after it; the transport checks the rest.
  checkSubject(subject);
  const carrier: Record<string, string | readonly string[]> = { ...out.headers };
  const span = tracing.send(operation, subject, data.length, out.parent, carrier);
  return { headers: carrier, span };
}

const hasAny = (headers: HeadersInit) => Object.keys(headers).length > 0;

/**
 * An app's outgoing middleware and the sends that run through it. Without any middleware nothing
 * here runs: `chain()` is undefined and the Broker sends as it always did, at no extra cost.
 */
export class Outgoing {
  /** The app-level chain alone (Broker calls); undefined when the app has no outgoing middleware. */
  app: OutgoingChain | undefined;
  /** Whether a router has outgoing middleware: only then does a Broker send look for the message being handled. */
  private routed = false;

  constructor(
    private readonly transport: () => Transport,
    private readonly tracing: Tracing,
    private middleware: readonly OutgoingMiddleware[],
  ) {
    this.app = this.chain([]);
  }

  /** Sets the app's middleware, once its classes are created: before any sender composes its chain. */
  use(middleware: readonly OutgoingMiddleware[]): void {
    this.middleware = middleware;
    this.app = this.chain([]);
  }

  /**
   * The app's middleware, then `inner` (a router's, a publisher's: nearer the send), composed once
   * by whoever sends through it; undefined when both are empty.
   */
  chain(inner: readonly OutgoingMiddleware[]): OutgoingChain | undefined {
    const all = [...this.middleware, ...inner];
    return all.length === 0 ? undefined : compose<OutgoingMessage>(all, (m) => this.deliver(m as Sending));
  }

  /** A router's chain (the app's middleware, then its routers', outermost first), for Broker sends made while one of its handlers runs. */
  routerChain(routers: readonly OutgoingMiddleware[]): OutgoingChain | undefined {
    if (routers.length === 0) return this.app;
    this.routed = true;
    return this.chain(routers);
  }

  /** The chain of a Broker send made now: its router's while a router's handler runs, else the app's. */
  current(): OutgoingChain | undefined {
    return this.routed ? (currentOutgoing() ?? this.app) : this.app;
  }

  /**
   * Runs a send through `chain`. What the caller got wrong (subject, headers, not connected) throws
   * at once, as without middleware; a refusal by a middleware, or a failed send, rejects.
   */
  send(
    chain: OutgoingChain,
    operation: OutgoingMessage["operation"],
    subject: string,
    data: Uint8Array,
    value: unknown,
    given: HeadersInit | undefined,
    sender: string,
    options: { timeoutMs?: number; jetstream?: Omit<JetStreamPublishOptions, "headers"> } = {},
  ): Promise<unknown> {
    if (operation === "jetstream") checkJetStreamSend(subject, { ...options.jetstream, headers: given });
    else checkSend(subject, undefined, given);
    this.transport();
    // The correlation id first, so middleware and spies see the headers as they leave.
    const out = outbound(given);
    const message: Sending = {
      operation,
      subject,
      data,
      value,
      headers: { ...out.headers },
      sender,
      result: undefined,
      parent: out.parent,
      timeoutMs: options.timeoutMs ?? 5000,
      jetstream: options.jetstream,
    };
    return chain(message).then(() => message.result);
  }

  private deliver(m: Sending): Promise<void> {
    const headers = m.headers;
    const traced = this.tracing.enabled ? this.tracing.send(m.operation === "request" ? "request" : "publish", m.subject, m.data.length, m.parent, headers) : undefined;
    const withHeaders = hasAny(headers) ? { headers } : {};
    try {
      if (m.operation === "publish") {
        this.transport().publish(m.subject, m.data, withHeaders);
        traced?.end();
        return RESOLVED;
      }
      const sent: Promise<unknown> =
        m.operation === "request"
          ? this.transport().request(m.subject, m.data, { timeoutMs: m.timeoutMs, ...withHeaders })
          : this.transport().jetstream().publish(m.subject, m.data, { ...m.jetstream, ...withHeaders });
      return (traced ? this.tracing.endWhen(traced, sent) : sent).then((result) => {
        m.result = result;
      });
    } catch (e) {
      traced?.end();
      return Promise.reject(e);
    }
  }
}
