import { container as rootContainer, type InjectionToken } from "tsyringe";

import { resolveCodec, type Codec, type CodecOption } from "../codec/codec.js";
import { PUBLISHERS } from "../di/tokens.js";
import { OutgoingValidationError, SetupError } from "../errors.js";
import { checkHeadersAt, outgoingOf, storingStream } from "../pipeline/publish.js";
import type { ResourceRegistry } from "../resources/resource.js";
import { streamResource, type ResolvedStream, type StreamDeclaration } from "../resources/stream.js";
import { isValidSubject } from "../subjects.js";
import type { HeadersInit, PubAck } from "../transport/transport.js";
import { isStandardSchema, validate, type StandardSchemaV1 } from "../validation/standard-schema.js";
import type { Broker } from "./broker.js";
import type { OutgoingChain, OutgoingMiddleware } from "./outgoing.js";

export interface PublisherOptions<T = unknown> {
  /** A Standard Schema every payload must satisfy before it is sent; its output is what is encoded. */
  schema?: StandardSchemaV1<T, unknown>;
  /** How payloads are encoded: "json" (default), "string", "bytes", or your own. */
  codec?: CodecOption;
  /** Publish to this JetStream stream (which must store `subject`): `publish` resolves with the PubAck. Set up at start. */
  stream?: StreamDeclaration;
  /** Headers on every message; those given to `publish` win. */
  headers?: HeadersInit;
  /** What it sends, for the AsyncAPI document. */
  description?: string;
  /** Its name in the AsyncAPI document and to outgoing middleware. Default: the subject. */
  name?: string;
  /** Outgoing middleware for this publisher only, inside the app's (see `outgoingMiddleware`). */
  middleware?: OutgoingMiddleware[];
}

const DECLARATION = Symbol("natsflow:publisher");

/** Every publisher's injection token: a class that injects one can reach the Broker (so its sends carry the message's correlation id). */
export const publisherTokens = new Set<InjectionToken>();

/** A declared publisher: `T` is its payload, `R` what `publish` resolves with (a `PubAck` for a stream). */
export interface PublisherDeclaration<T = unknown, R = void> {
  readonly [DECLARATION]: true;
  readonly subject: string;
  readonly options: Readonly<PublisherOptions<T>>;
  /** Injects the app's `Publisher` for it (see `@InjectPublisher`). */
  readonly token: InjectionToken<Publisher<T, R>>;
}

/**
 * Declares a typed publisher on one subject. Inject its `Publisher` with `@InjectPublisher(declaration)`,
 * or get it from a started app with `app.publisher(declaration)`; it is checked when an app first
 * uses it (or at create, listed in `publishers`) and listed in the app's AsyncAPI document.
 */
export function definePublisher<T = unknown>(subject: string, options?: PublisherOptions<T> & { stream?: undefined }): PublisherDeclaration<T, void>;
export function definePublisher<T = unknown>(subject: string, options: PublisherOptions<T> & { stream: StreamDeclaration }): PublisherDeclaration<T, PubAck>;
export function definePublisher<T = unknown>(subject: string, options: PublisherOptions<T> = {}): PublisherDeclaration<T, void | PubAck> {
  const token = Symbol(`natsflow:publisher:${String(subject)}`) as InjectionToken<Publisher<T, void | PubAck>>;
  const declaration = Object.freeze({ [DECLARATION]: true as const, subject, options: Object.freeze({ ...options }), token });
  publisherTokens.add(token);
  // In the root container, so every app (a child of it) resolves the token to its own handle.
  rootContainer.register(token, { useFactory: (c) => c.resolve<Publishers>(PUBLISHERS).handle(declaration, "@InjectPublisher") });
  return declaration;
}

/** Any declared publisher, whatever its payload: what app options list. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- payload types are the declarations' own
export type AnyPublisherDeclaration = PublisherDeclaration<any, any>;

export function isPublisherDeclaration(value: unknown): value is PublisherDeclaration<unknown, unknown> {
  return typeof value === "object" && value !== null && DECLARATION in value;
}

/** A publisher's declaration, checked. */
export interface ResolvedPublisher {
  readonly name: string;
  readonly subject: string;
  readonly schema: StandardSchemaV1 | undefined;
  readonly codec: Codec;
  readonly codecOption: CodecOption | undefined;
  readonly stream: ResolvedStream | undefined;
  readonly headers: HeadersInit | undefined;
  readonly description: string | undefined;
  readonly middleware: readonly OutgoingMiddleware[];
}

/** Every `definePublisher` option is checked here, with `SetupError`s naming the setting. */
export function resolvePublisher(declaration: unknown, where: string): ResolvedPublisher {
  if (!isPublisherDeclaration(declaration)) throw new SetupError(where, "is not a publisher declaration.", 'pass the result of definePublisher("subject", { … }).');
  const { subject } = declaration;
  const o = declaration.options;
  const at = `publisher ${JSON.stringify(subject)}`;
  if (!isValidSubject(subject)) {
    throw new SetupError(at, "is not a subject to publish on: it must be literal tokens, without * or > wildcards.", 'name one subject, e.g. "orders.events.created".');
  }
  if (o.schema !== undefined && !isStandardSchema(o.schema)) throw new SetupError(`${at} schema`, "is not a Standard Schema.", "use a zod, valibot or arktype schema.");
  if (o.name !== undefined && (typeof o.name !== "string" || o.name === "")) throw new SetupError(`${at} name`, "must be a non-empty string.");
  if (o.description !== undefined && typeof o.description !== "string") throw new SetupError(`${at} description`, "must be a string.");
  if (o.headers !== undefined) checkHeadersAt(at, o.headers);
  const middleware = outgoingOf(at, o.middleware);
  const stream = o.stream === undefined ? undefined : storingStream(at, o.stream, subject);
  return {
    name: o.name ?? subject,
    subject,
    schema: o.schema,
    codec: resolveCodec(o.codec, `${at} codec`),
    codecOption: o.codec,
    stream,
    headers: o.headers,
    description: o.description,
    middleware,
  };
}

export interface PublisherSendOptions {
  /** Headers on this message, over the declaration's. */
  headers?: HeadersInit;
  /** `Nats-Msg-Id`, for a stream's duplicate detection (stream publishers only). */
  msgId?: string;
}

/**
 * A declared publisher in one app. `publish` validates the payload against the schema (an invalid
 * one rejects with `OutgoingValidationError`, and nothing is sent: in a handler, a 500), encodes it, runs the outgoing chain and
 * sends; with a stream it resolves with the PubAck. Usable once the app started (before, it rejects
 * with a `ConnectionError`).
 */
export class Publisher<T = unknown, R = void> {
  /** @internal made by the app, once per declaration */
  constructor(
    private readonly p: ResolvedPublisher,
    private readonly broker: Broker,
    private readonly chain: OutgoingChain | undefined,
  ) {}

  get name(): string {
    return this.p.name;
  }

  get subject(): string {
    return this.p.subject;
  }

  async publish(payload: T, options: PublisherSendOptions = {}): Promise<R> {
    const { p } = this;
    const value = p.schema ? await validate(p.schema, payload, (issues) => new OutgoingValidationError(p.name, issues)) : payload;
    const data = p.codec.encode(value);
    const headers = p.headers && options.headers ? { ...p.headers, ...options.headers } : (options.headers ?? p.headers);
    if (!p.stream) {
      if (options.msgId !== undefined) throw new SetupError(`publisher ${p.name} msgId`, "needs a stream: only a stream detects duplicates.", "declare the publisher with stream: defineStream({ … }).");
      await this.broker.send(this.chain, p.subject, data, value, headers, p.name);
      return undefined as R;
    }
    const jetstream = { expect: { stream: p.stream.config.name }, ...(options.msgId !== undefined ? { msgId: options.msgId } : {}) };
    if (this.chain) return (await this.broker.outgoing.send(this.chain, "jetstream", p.subject, data, value, headers, p.name, { jetstream })) as R;
    return (await this.broker.jetstream.publish(p.subject, data, { ...jetstream, ...(headers ? { headers } : {}) })) as R;
  }
}

/**
 * An app's declared publishers: one `Publisher` per declaration, made on first use; and, for a
 * router with outgoing middleware (`within`), one per declaration with that middleware in its chain.
 */
export class Publishers {
  private readonly handles = new Map<unknown, Publisher<never, unknown>>();
  /** What the AsyncAPI document lists: every publisher the app has used or declared, in that order. */
  readonly resolved: ResolvedPublisher[];
  private readonly checked: Map<unknown, ResolvedPublisher>;

  constructor(
    private readonly broker: Broker,
    private readonly resources: ResourceRegistry,
    /** The routers' outgoing middleware, outermost first: between the app's and the publisher's own. */
    private readonly outer: readonly OutgoingMiddleware[] = [],
    app?: Publishers,
  ) {
    this.resolved = app?.resolved ?? [];
    this.checked = app?.checked ?? new Map();
  }

  /** The publishers of a router with outgoing middleware `outer`, inside this one's. */
  within(outer: readonly OutgoingMiddleware[]): Publishers {
    return new Publishers(this.broker, this.resources, [...this.outer, ...outer], this);
  }

  /** The `Publisher` for `declaration` here; checks it (and declares its stream) the first time the app sees it. */
  handle<T, R>(declaration: PublisherDeclaration<T, R>, where: string): Publisher<T, R> {
    let handle = this.handles.get(declaration);
    if (!handle) {
      let resolved = this.checked.get(declaration);
      if (!resolved) {
        resolved = resolvePublisher(declaration, where);
        if (resolved.stream) this.resources.use(streamResource(resolved.stream, `${where} ${resolved.name}`));
        this.checked.set(declaration, resolved);
        this.resolved.push(resolved);
      }
      handle = new Publisher(resolved, this.broker, this.broker.outgoing.chain([...this.outer, ...resolved.middleware]));
      this.handles.set(declaration, handle);
    }
    return handle as unknown as Publisher<T, R>;
  }
}

/** The `Publisher` of a declaration, for `@inject(publisherToken(P))` or `container.resolve(publisherToken(P))`. */
export function publisherToken<T, R>(declaration: PublisherDeclaration<T, R>): InjectionToken<Publisher<T, R>> {
  if (!isPublisherDeclaration(declaration)) throw new SetupError("publisherToken", "is not given a publisher declaration.", 'pass the result of definePublisher("subject", { … }).');
  return declaration.token;
}
