import type { DependencyContainer } from "tsyringe";

import type { ContextKey, MessageContext } from "../dispatch/context.js";
import type { Propagation } from "../dispatch/current.js";
import type { CompiledFilter } from "../dispatch/filter.js";
import type { HandlerInfo } from "../dispatch/handler-info.js";
import type { SetupError, SubscriptionError } from "../errors.js";
import type { Logger } from "../logging/logger.js";
import type { HandlerDescription, SourceDeclaration } from "../metadata/handler-metadata.js";
import type { Metrics } from "../observability/metrics.js";
import type { PublishTarget } from "../pipeline/publish.js";
import type { Resource } from "../resources/resource.js";
import type { EndpointStats } from "../service/endpoint-stats.js";
import type { Transport } from "../transport/transport.js";

/**
 * One kind of handler: a core subscription, a JetStream consumer, a bucket watch. Its decorator
 * stores a declaration (`HandlerMetadata.source`: the kind's name and options); at `NatsApp.create`
 * the kind checks those options against the handler and returns a `SourceSpec`; at `start` the
 * spec opens the `Source` that feeds the handler's messages into its chain. The explorer and the
 * app see kinds only through this module; `registry.ts` lists them.
 */
export interface HandlerKind<O = unknown> {
  /** What declarations call it (`SourceDeclaration.kind`) and parameter specs name it by. */
  readonly name: string;
  /** Whether a controller's prefix is joined to the handler's subject (not to a bucket's key filter). */
  readonly prefixed: boolean;
  /** Whether its source reads `SourceSite.queue` (a queue group): a router's default queue is given only to these. */
  readonly queued: boolean;
  /** The kind's factory: every option and combination checked, with `SetupError`s naming the setting. */
  resolve(options: O, site: SourceSite): SourceSpec;
}

/** A declaration of `kind` with `options`, typed by the kind. */
export function declareSource<O>(kind: HandlerKind<O>, options: O): SourceDeclaration {
  return { kind: kind.name, options };
}

/** What a kind's factory knows of the handler it resolves a declaration for. */
export interface SourceSite {
  /** `Class.method`, or the name of an `app.subscribe` handler. */
  readonly name: string;
  /** The compiled subject (`{param}` tokens made `*`, the prefix joined where the kind takes it). */
  readonly filter: string;
  /** The subject as written (`{param}` tokens kept, the prefix joined where the kind takes it). */
  readonly address: string;
  readonly queue: string | undefined;
  readonly concurrency: number;
  /** Whether a parameter of the handler reads `key` (`@Delivery()` reads the consumer's delivery). */
  reads(key: ContextKey<unknown>): boolean;
  /** Declares what the source needs on the server; the app sets it up at start. Returns the app's one instance. */
  use<R extends Resource>(resource: R): R;
}

/** What a handler's source runs with: made once at create by its kind. */
export interface SourceSpec {
  /**
   * Handlers whose specs share a key read one source: one subscription (subject and queue), one
   * durable; their filters tell them apart (see `routeByFilter`). Undefined when every handler has
   * its own (a watch, an ordered consumer).
   */
  readonly share: SourceShare | undefined;
  /** How the AsyncAPI document shows it. */
  readonly doc: SourceDoc;
  /** At start, once the resources are set up: the source that feeds `binding`'s chain (for a shared source, the chain that routes to each handler). */
  open(binding: HandlerBinding, env: SourceEnv): Source;
}

/** How handlers share a source: the first one's spec opens it for all. */
export interface SourceShare {
  readonly key: string;
  /** What the handlers sharing it must also agree on (a durable's subject and settings); undefined when nothing. */
  readonly terms?: string;
  /** A second handler on it without a filter: refused at create, naming the first (`other`). */
  conflict(other: string): SetupError;
  /** Its terms differ from `other`'s. */
  mismatch?(other: string): SetupError;
}

/** A source as the AsyncAPI document describes it. */
export interface SourceDoc {
  /** Its channel's address: the subject, or where the bucket's changes are stored. */
  readonly address: string;
  /** Whether a message with a reply subject is answered (with the micro error reply on failure). */
  readonly replies: boolean;
  /** Added to its receive operation: `x-natsflow-*` extensions saying what it reads. */
  readonly extensions?: Readonly<Record<string, unknown>>;
}

/** What the app hands every source it opens. */
export interface SourceEnv {
  readonly transport: Transport;
  readonly container: DependencyContainer;
  readonly metrics: Metrics;
  /** Whether NATS micro discovery is on: only then does a source that answers requests keep `stats`. */
  readonly discovery: boolean;
}

/**
 * Where a handler's messages come from: each one runs through `binding.run` (or `binding.overflow`)
 * in a `MessageContext` of its own, and leaves as the kind settles it (a reply, an ack, nothing).
 * Each source binds its own metric series once, so a message pays for the increments only.
 */
export interface Source {
  readonly binding: HandlerBinding;
  /** Starts taking messages; resolves once it does. What the server has wrong fails with `SetupError`. */
  start(): void | Promise<void>;
  /** Takes no more; resolves when what is already on its way has been handed over. */
  stop(): void | Promise<void>;
  /** Messages running or waiting. */
  readonly pending: number;
  /** Resolves once none is. */
  settled(): Promise<void>;
  /**
   * At a stop's deadline, with handlers still running: hands their messages back to the server now
   * (a consumer naks them) rather than leave them to its ack wait. Returns how many it gave back.
   */
  abandon?(): number;
  /** Set when the server ended it: the app is not ready. */
  readonly endedBy?: SubscriptionError | undefined;
  /** Set by a source that answers requests: its counters for NATS micro discovery, which lists it as an endpoint. */
  readonly stats?: EndpointStats | undefined;
}

/** A handler made ready to serve: its subject, its limits, its composed chain, and its kind's spec. */
export interface HandlerBinding {
  readonly info: HandlerInfo;
  readonly concurrency: number;
  readonly maxPending: number;
  readonly logger: Logger;
  readonly run: (ctx: MessageContext) => Promise<void>;
  /** Answers a message that found the queue full, without running the handler. */
  readonly overflow: (ctx: MessageContext) => Promise<void>;
  /** Which of its source's messages it takes, when it shares the source with other handlers. */
  readonly filter: CompiledFilter | undefined;
  /** Endpoint metadata for NATS micro discovery; `{}` when none. */
  readonly metadata: Readonly<Record<string, string>>;
  /** How its messages are correlated and traced. */
  readonly propagation: Propagation;
  /** What the AsyncAPI document says of it, besides what its source says. */
  readonly doc: HandlerDoc;
  readonly source: SourceSpec;
  /**
   * Its kind takes a queue group but it has none: every instance of the app (every `--workers`
   * worker) gets each of its messages. Warned about when running as a cluster worker.
   */
  readonly fanOut: boolean;
  /** The container its messages' containers are made from: the app's, or its router's. */
  readonly container: DependencyContainer;
}

/** A handler as the AsyncAPI document describes it. */
export interface HandlerDoc {
  /** The `{param}` tokens of its subject. */
  readonly params: readonly string[];
  readonly description: HandlerDescription | undefined;
  readonly publishes: readonly PublishTarget[];
  /** Tags of the routers it is in, outermost first. */
  readonly tags: readonly string[];
}
