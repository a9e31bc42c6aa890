// Types only: the API itself is loaded at `start()`, and only when tracing will be on.
import type { Context, Link, ProxyTracerProvider, Span, TextMapGetter, TextMapSetter, Tracer, TracerProvider } from "@opentelemetry/api";

import type { HandlerInfo } from "../dispatch/handler-info.js";
import type { InboundMessage, MessageHeaders } from "../transport/transport.js";

type OtelApi = typeof import("@opentelemetry/api");

/** What tracing that is on works with: the API, loaded at `start()`, and natsflow's tracer. */
interface Live {
  readonly api: OtelApi;
  readonly tracer: Tracer;
}

const getter: TextMapGetter<MessageHeaders | undefined> = {
  keys: (headers) => headers?.keys() ?? [],
  get: (headers, key) => headers?.get(key),
};

const setter: TextMapSetter<Record<string, string | readonly string[]>> = {
  set: (carrier, key, value) => {
    carrier[key] = value;
  },
};

/**
 * Where every copy of the OpenTelemetry API (major 1, as the peer dependency asks) keeps its globals;
 * `setGlobalTracerProvider`, which an SDK calls, puts a `trace` entry there. Read without loading the
 * API, so an app that cannot trace never loads it.
 */
const OTEL_GLOBALS = Symbol.for("opentelemetry.js.api.1");

function providerSet(): boolean {
  const globals = (globalThis as { [OTEL_GLOBALS]?: { trace?: unknown } })[OTEL_GLOBALS];
  return globals?.trace !== undefined;
}

/**
 * Whether the process has an OpenTelemetry SDK, asked without making a span (an SDK would export
 * it): the global provider is the API's proxy, which delegates to the SDK's once one is registered.
 * Checked by shape, not class: the SDK may have brought its own copy of the API (whose proxy, once
 * registered, always has a delegate).
 */
function sdkRegistered(api: OtelApi): boolean {
  // What a proxy provider hands out before an SDK is set as its delegate: the API's no-op provider.
  const noop = new api.ProxyTracerProvider().getDelegate();
  let provider: TracerProvider = api.trace.getTracerProvider();
  const proxy = provider as Partial<Pick<ProxyTracerProvider, "getDelegate">>;
  if (typeof proxy.getDelegate === "function") provider = proxy.getDelegate();
  return provider !== noop;
}

/** One message's span and the context its own sends are children of. */
export interface MessageTrace {
  readonly span: Span;
  readonly context: Context;
}

/**
 * OpenTelemetry for one app, with the messaging semantic conventions: a span per handled message
 * (its parent taken from the message's `traceparent`), a span per send, W3C trace context on
 * everything sent. Decided at `start()`: with no SDK registered (and `tracing` not forced) nothing
 * runs at all and the API is not even loaded, so it costs nothing.
 */
export class Tracing {
  // Set by `decide()` when tracing is on.
  private otel: Live | undefined;

  constructor(private readonly mode: boolean | undefined) {}

  get enabled(): boolean {
    return this.otel !== undefined;
  }

  /**
   * At `start()`: on when asked, or when an SDK is registered by then. The API is loaded only when
   * tracing is asked for or some tracer provider is set: with neither, tracing is off and nothing loads.
   */
  async decide(): Promise<void> {
    this.otel = undefined;
    if (this.mode === false || (this.mode === undefined && !providerSet())) return;
    const api = await import("@opentelemetry/api");
    if (this.mode ?? sdkRegistered(api)) this.otel = { api, tracer: api.trace.getTracer("natsflow") };
  }

  // Only called while enabled: a message is traced only then.
  private get live(): Live {
    return this.otel as Live;
  }

  /** Starts the span of a message a handler takes in, a child of the trace context its headers carry. */
  receive(message: InboundMessage, handler: HandlerInfo, correlationId: string | undefined): MessageTrace {
    const { api, tracer } = this.live;
    const { ROOT_CONTEXT, propagation, trace } = api;
    const parent = message.headers ? propagation.extract(ROOT_CONTEXT, message.headers, getter) : ROOT_CONTEXT;
    const span = tracer.startSpan(
      `process ${handler.subject}`,
      {
        kind: api.SpanKind.CONSUMER,
        attributes: {
          "messaging.system": "nats",
          "messaging.operation.type": "process",
          "messaging.operation.name": "process",
          "messaging.destination.name": message.subject,
          "messaging.destination.template": handler.subject,
          "messaging.message.body.size": message.data.length,
          "natsflow.handler": handler.name,
          ...(handler.queue ? { "messaging.consumer.group.name": handler.queue } : {}),
          ...(correlationId !== undefined ? { "messaging.message.conversation_id": correlationId } : {}),
        },
      },
      parent,
    );
    return { span, context: trace.setSpan(parent, span) };
  }

  /**
   * Starts the span of a batch a handler takes in: a root of its own (its messages may come from many
   * traces), linked to the trace context each message's headers carry.
   */
  receiveBatch(messages: readonly InboundMessage[], handler: HandlerInfo, correlationId: string | undefined): MessageTrace {
    const { api, tracer } = this.live;
    const { ROOT_CONTEXT, propagation, trace } = api;
    const links: Link[] = [];
    for (const m of messages) {
      if (!m.headers) continue;
      const linked = trace.getSpanContext(propagation.extract(ROOT_CONTEXT, m.headers, getter));
      if (linked) links.push({ context: linked });
    }
    const span = tracer.startSpan(
      `process ${handler.subject}`,
      {
        kind: api.SpanKind.CONSUMER,
        root: true,
        links,
        attributes: {
          "messaging.system": "nats",
          "messaging.operation.type": "process",
          "messaging.operation.name": "process",
          "messaging.destination.template": handler.subject,
          "messaging.batch.message_count": messages.length,
          "natsflow.handler": handler.name,
          ...(correlationId !== undefined ? { "messaging.message.conversation_id": correlationId } : {}),
        },
      },
      ROOT_CONTEXT,
    );
    return { span, context: trace.setSpan(ROOT_CONTEXT, span) };
  }

  /** Runs `work` with the message's span active, so spans the handler makes itself are its children. */
  within<T>(t: MessageTrace, work: () => T): T {
    return this.live.api.context.with(t.context, work);
  }

  /**
   * Ends a message's span: `code` is the error reply's (a 4xx is the caller's mistake, still an
   * error of this operation), `description` its safe text — never the raw error, which may hold secrets.
   */
  finish(t: MessageTrace, failure?: { type: string; code: number; description: string }): void {
    if (failure) {
      t.span.setAttributes({ "error.type": failure.type, "natsflow.reply.code": failure.code });
      t.span.setStatus({ code: this.live.api.SpanStatusCode.ERROR, message: failure.description });
    }
    t.span.end();
  }

  /**
   * A span for one send (`publish`, `request`, a JetStream publish) from `parent` (the message being
   * handled, else the caller's active context), with its trace context added to `headers`.
   */
  send(operation: "publish" | "request", subject: string, size: number, parent: Context | undefined, headers: Record<string, string | readonly string[]>): Span {
    const { api, tracer } = this.live;
    const from = parent ?? api.context.active();
    const span = tracer.startSpan(
      `send ${subject}`,
      {
        kind: operation === "request" ? api.SpanKind.CLIENT : api.SpanKind.PRODUCER,
        attributes: {
          "messaging.system": "nats",
          "messaging.operation.type": "send",
          "messaging.operation.name": operation,
          "messaging.destination.name": subject,
          "messaging.message.body.size": size,
        },
      },
      from,
    );
    api.propagation.inject(api.trace.setSpan(from, span), headers, setter);
    return span;
  }

  /** Adds `t`'s trace context to a reply's headers. */
  inject(t: MessageTrace, headers: Record<string, string | readonly string[]>): void {
    this.live.api.propagation.inject(t.context, headers, setter);
  }

  /** Ends a send span when `sent` settles, marking a failure. */
  endWhen<T>(span: Span, sent: Promise<T>): Promise<T> {
    const { SpanStatusCode } = this.live.api;
    return sent.then(
      (value) => {
        span.end();
        return value;
      },
      (error: unknown) => {
        span.setAttribute("error.type", error instanceof Error ? error.name : "Error");
        span.setStatus({ code: SpanStatusCode.ERROR });
        span.end();
        throw error;
      },
    );
  }
}
