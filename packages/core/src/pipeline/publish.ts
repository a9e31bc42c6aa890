import type { OutgoingMiddleware } from "../broker/outgoing.js";
import type { MessageContext } from "../dispatch/context.js";
import { SetupError } from "../errors.js";
import type { ResourceRegistry } from "../resources/resource.js";
import { resolveStream, streamResource, type ResolvedStream, type StreamDeclaration } from "../resources/stream.js";
import { checkHeaders, filterCovers, isValidSubject } from "../subjects.js";
import type { HeadersInit } from "../transport/transport.js";

export interface PublishOptions {
  /**
   * Publish to this JetStream stream and wait for its PubAck: the reply (or, for `@Consume`, the ack)
   * goes only once the event is stored, and a failed PubAck is a 503. The stream is set up at start
   * like a consumer's and must store `subject`.
   */
  stream?: StreamDeclaration;
  /** `Nats-Msg-Id` from the result, for the stream's duplicate detection (e.g. `(order) => order.id`). */
  msgId?: (result: never, ctx: MessageContext) => string;
  /** Headers on the published message, or a function of the result returning them. */
  headers?: HeadersInit | ((result: never, ctx: MessageContext) => HeadersInit);
  /** Outgoing middleware for this target only, inside the app's (see `outgoingMiddleware`). */
  middleware?: OutgoingMiddleware[];
}

/** What `@Publish` stored: checked at bootstrap by `resolvePublishTargets`. */
export interface PublishSpec extends PublishOptions {
  readonly subject: string;
}

/** A `@Publish` target, checked: a plain subject, or a stream's subject with its PubAck awaited. */
export interface PublishTarget {
  readonly subject: string;
  readonly stream?: ResolvedStream;
  readonly msgId?: ((result: never, ctx: MessageContext) => string) | undefined;
  readonly headers?: HeadersInit | ((result: never, ctx: MessageContext) => HeadersInit) | undefined;
  /** Its outgoing middleware inside the app's: a router's, then the target's own. */
  readonly outgoing: readonly OutgoingMiddleware[];
  /** `Class.method @Publish`, as outgoing middleware sees it. */
  readonly sender: string;
}

/**
 * Checks a handler's `@Publish` specs at bootstrap: literal subjects, stored by the stream named.
 * A target's stream is declared to the app's `resources`, which set it up at start. `outer` is the
 * outgoing middleware of what encloses the handler (a router), run before the target's own.
 */
export function resolvePublishTargets(name: string, specs: readonly PublishSpec[], resources: ResourceRegistry, outer: readonly OutgoingMiddleware[] = []): PublishTarget[] {
  return specs.map((spec) => {
    const where = `${name} @Publish(${JSON.stringify(spec.subject)})`;
    if (!isValidSubject(spec.subject)) {
      throw new SetupError(where, "is not a subject to publish on: it must be literal tokens, without * or > wildcards.", 'name one subject, e.g. "orders.events.created".');
    }
    if (spec.msgId !== undefined && typeof spec.msgId !== "function") {
      throw new SetupError(`${where} msgId`, "must be a function of the result, e.g. (order) => order.id.");
    }
    if (spec.headers !== undefined && (spec.headers === null || (typeof spec.headers !== "object" && typeof spec.headers !== "function"))) {
      throw new SetupError(`${where} headers`, "must be an object of header values, or a function of the result returning one.");
    }
    const common = { subject: spec.subject, headers: spec.headers, outgoing: [...outer, ...outgoingOf(where, spec.middleware)], sender: `${name} @Publish` };
    if (typeof spec.headers === "object") checkHeadersAt(where, spec.headers);
    if (spec.stream === undefined) {
      if (spec.msgId !== undefined) throw new SetupError(`${where} msgId`, "needs a stream: only a stream detects duplicates.", "add stream: defineStream({ … }).");
      return common;
    }
    const stream = storingStream(where, spec.stream, spec.subject);
    resources.use(streamResource(stream, name));
    return { ...common, stream, msgId: spec.msgId };
  });
}

/** A sender's own outgoing middleware (`middleware` of `@Publish` or a publisher), checked. */
export function outgoingOf(where: string, given: unknown): readonly OutgoingMiddleware[] {
  if (given === undefined) return [];
  if (!Array.isArray(given) || given.some((m) => typeof m !== "function")) {
    throw new SetupError(`${where} middleware`, "must be an array of outgoing middleware functions, (message, next) => Promise<void>.");
  }
  return given as OutgoingMiddleware[];
}

/** Headers declared for every message of a sender, checked as the transport would. */
export function checkHeadersAt(where: string, headers: HeadersInit): void {
  try {
    checkHeaders(headers);
  } catch (e) {
    throw new SetupError(`${where} headers`, (e as Error).message, undefined, { cause: e });
  }
}

/** The stream a sender publishes to, refused unless it stores `subject`. */
export function storingStream(where: string, declaration: unknown, subject: string): ResolvedStream {
  const stream = resolveStream(declaration, `${where} stream`);
  if (!stream.config.subjects.some((f) => filterCovers(f, subject))) {
    throw new SetupError(`${where} stream`, `stream ${stream.config.name} does not store ${subject} (its subjects: ${stream.config.subjects.join(", ")}).`, "publish on one of its subjects, or add the subject to the stream.");
  }
  return stream;
}
