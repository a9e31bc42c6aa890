import { randomUUID } from "node:crypto";

import type { DependencyContainer } from "tsyringe";

import type { OutgoingChain } from "../broker/outgoing-message.js";
import { HEADERS, LOGGER, MESSAGE } from "../di/tokens.js";
import type { Logger } from "../logging/logger.js";
import type { MessageTrace } from "../observability/tracing.js";
import type { HeadersInit, InboundMessage } from "../transport/transport.js";
import type { HandlerInfo } from "./handler-info.js";

export type { HandlerInfo } from "./handler-info.js";

const MAX_CORRELATION_ID = 128;

/**
 * Whether an inbound correlation id is passed on as it is: 1 to 128 printable ASCII characters, no
 * spaces. Anything else (longer, control characters, non-ASCII) is replaced by a fresh id, so what a
 * caller sends never reaches logs, spans and outgoing headers verbatim.
 */
export function isUsableCorrelationId(id: string): boolean {
  if (id.length === 0 || id.length > MAX_CORRELATION_ID) return false;
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}

/** A typed slot for data one middleware leaves for another (see `createContextKey`). */
export interface ContextKey<T> {
  readonly name: string;
  /** Phantom field: carries `T` for type inference only. */
  readonly __type?: T;
}

export function createContextKey<T>(name: string): ContextKey<T> {
  return Object.freeze({ name });
}

export interface OutboundReply {
  data: Uint8Array;
  headers?: HeadersInit;
}

/** A handler's result with headers for its reply: `return reply(order, { headers: { "Cache-Control": "no-store" } })`. */
export class Reply<T = unknown> {
  constructor(
    readonly value: T,
    readonly headers: HeadersInit,
  ) {}
}

/** Wraps a handler's result to put headers on the reply; `@Publish` targets still get the bare value. */
export function reply<T>(value: T, options: { headers: HeadersInit }): Reply<T> {
  return new Reply(value, options.headers);
}

/**
 * One message's trip through a handler's middleware chain. `payload` starts as the raw bytes and is
 * replaced by decoding middleware; `result` is what the handler returned; `response`, when set, is
 * what the dispatcher sends to the reply subject once the chain has finished.
 */
export class MessageContext {
  payload: unknown;
  result: unknown = undefined;
  response: OutboundReply | undefined = undefined;
  /** The header that carries correlation ids; undefined when correlation is off. */
  correlationHeader: string | undefined = undefined;
  /** This message's span, when tracing is on: middleware may add attributes (never secrets). */
  trace: MessageTrace | undefined = undefined;
  /** @internal its handler's router's outgoing chain: what Broker sends made meanwhile run through */
  outgoing: OutgoingChain | undefined = undefined;
  private slots: Map<ContextKey<unknown>, unknown> | undefined;
  private child: DependencyContainer | undefined;
  private extraHeaders: Record<string, string | readonly string[]> | undefined;
  private correlation: string | undefined;
  private messageLogger: Logger | undefined;

  constructor(
    readonly message: InboundMessage,
    private current: HandlerInfo,
    private handlerLogger: Logger,
    private readonly appContainer: DependencyContainer,
    /** Epoch ms when the message arrived, before any wait for a concurrency slot. */
    readonly receivedAt: number = Date.now(),
  ) {
    this.payload = message.data;
  }

  /** The handler the message runs through (of those sharing a subscription, the one whose filter took it). */
  get handler(): HandlerInfo {
    return this.current;
  }

  /** @internal Hands the message to `handler` (a shared subscription's filters chose it): its logs and errors name it from here on. */
  routeTo(handler: HandlerInfo, logger: Logger, outgoing?: OutgoingChain): void {
    this.current = handler;
    this.outgoing = outgoing;
    this.handlerLogger = logger;
    this.messageLogger = undefined;
    this.trace?.span.setAttribute("natsflow.handler", handler.name);
  }

  /**
   * This message's correlation id: the inbound header's when it is a usable one (see
   * `isUsableCorrelationId`), else a new one (made on first use). Replies, `@Publish` and `Broker`
   * calls made while handling the message carry it.
   */
  get correlationId(): string | undefined {
    if (this.correlationHeader === undefined) return undefined;
    if (this.correlation === undefined) {
      const inbound = this.message.headers?.get(this.correlationHeader);
      this.correlation = inbound !== undefined && isUsableCorrelationId(inbound) ? inbound : randomUUID();
    }
    return this.correlation;
  }

  /** @internal whether its handler's logger writes debug lines (asked without making the message's logger) */
  get debugging(): boolean {
    // pino's numeric levels: debug is 20; a compare per message rather than a level-name lookup.
    return this.handlerLogger.levelVal <= 20;
  }

  /** The handler's logger, with this message's correlation id on every line (made on first use). */
  get logger(): Logger {
    if (this.messageLogger) return this.messageLogger;
    const id = this.correlationId;
    return (this.messageLogger = id === undefined ? this.handlerLogger : this.handlerLogger.child({ correlationId: id }));
  }

  /** Puts a header on the reply, success or error (error headers win), whoever sets the response. */
  setReplyHeader(name: string, value: string | readonly string[]): void {
    (this.extraHeaders ??= {})[name] = value;
  }

  /**
   * The reply's headers: those set on the context, then the response's own, then the correlation id
   * when there is one: the inbound id (or its replacement), or one made because a log line or a send
   * used it (a reply alone makes none, which keeps plain request/reply at its speed).
   */
  replyHeaders(response: OutboundReply): HeadersInit | undefined {
    const header = this.correlationHeader;
    const id = this.correlation ?? (header !== undefined && this.message.headers?.has(header) ? this.correlationId : undefined);
    if (!this.extraHeaders && id === undefined) return response.headers;
    const headers: Record<string, string | readonly string[]> = { ...this.extraHeaders, ...response.headers };
    if (id !== undefined && !((header as string) in headers)) headers[header as string] = id;
    return headers;
  }

  /**
   * A child of the app's container for this message only, made on first use and disposed after:
   * the message, its headers, this context and the logger are registered in it, and message-scoped
   * providers get their instance here.
   */
  get container(): DependencyContainer {
    if (!this.child) {
      const child = this.appContainer.createChildContainer();
      child.register(MESSAGE, { useValue: this.message });
      child.register(HEADERS, { useValue: this.message.headers });
      child.register(LOGGER, { useFactory: () => this.logger });
      child.register(MessageContext, { useValue: this });
      this.child = child;
    }
    return this.child;
  }

  get<T>(key: ContextKey<T>): T | undefined {
    return this.slots?.get(key) as T | undefined;
  }

  set<T>(key: ContextKey<T>, value: T): void {
    (this.slots ??= new Map()).set(key, value);
  }

  /** Whether this message's container was ever made (and so needs disposing). */
  get hasContainer(): boolean {
    return this.child !== undefined;
  }

  /** Disposes this message's container, when one was made; a failing provider is logged, not thrown. */
  async dispose(): Promise<void> {
    if (!this.child) return;
    try {
      await this.child.dispose();
    } catch (error) {
      this.logger.error({ err: error }, "disposing the message container failed");
    }
  }
}
