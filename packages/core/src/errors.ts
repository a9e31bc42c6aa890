/** Base class of every error natsflow throws on purpose. */
export class NatsflowError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * Configuration that cannot work. Thrown at start-up, never while serving; the message names the
 * setting and how to fix it.
 */
export class SetupError extends NatsflowError {
  constructor(
    readonly setting: string,
    problem: string,
    readonly fix?: string,
    options?: { cause?: unknown },
  ) {
    // A problem quoted from elsewhere (a library's error) may lack its full stop.
    super(`${setting}: ${problem}${fix ? `${/[.!?]$/.test(problem) ? "" : "."} Fix: ${fix}` : ""}`, options);
  }
}

/** A failure a handler reports on purpose; `code` follows the NATS micro services convention. */
export class HandlerError extends NatsflowError {
  constructor(
    message: string,
    readonly code = 500,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface ValidationIssue {
  /** Dot path into the payload, empty for the payload itself. */
  path: string;
  message: string;
}

function describeIssues(issues: readonly ValidationIssue[]): string {
  return issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join("; ");
}

/** The payload is not what the handler accepts: malformed for its codec, or rejected by its schema. */
export class ValidationError extends HandlerError {
  constructor(
    readonly issues: ValidationIssue[],
    options?: { cause?: unknown; description?: string },
  ) {
    super(options?.description ?? `invalid payload: ${describeIssues(issues)}`, 400, options);
  }
}

/**
 * A payload the service itself was about to send (a declared publisher's) is not what its schema
 * accepts. Not a `ValidationError`: in a handler it is the service's fault, answered as a bare 500
 * and logged at error with the issues, not a 400 blaming the caller. Nothing was sent.
 */
export class OutgoingValidationError extends NatsflowError {
  constructor(
    /** The publisher's name. */
    readonly sender: string,
    readonly issues: ValidationIssue[],
  ) {
    super(`invalid payload sent by ${sender}: ${describeIssues(issues)}`);
  }
}

/**
 * No handler on a shared subscription (or durable) has a filter that takes the message, and none is
 * the default: a request is answered 404, a JetStream message terminated and dead-lettered.
 */
export class NoMatchError extends HandlerError {
  constructor() {
    super("no handler matches this message", 404);
  }
}

/** More messages are waiting for a handler than its `maxPending` allows: answered 503 without running it. */
export class OverloadedError extends HandlerError {
  constructor() {
    super("busy: too many messages waiting, try again", 503);
  }
}

/** A request was answered with an error (NATS micro services convention headers). */
export class ServiceError extends NatsflowError {
  constructor(
    readonly subject: string,
    readonly code: number,
    readonly description: string,
    readonly body?: unknown,
  ) {
    super(`${subject}: ${code} ${description}`);
  }
}

/** The server ended a subscription (a permissions violation): its handler gets no more messages. */
export class SubscriptionError extends NatsflowError {
  constructor(readonly subject: string, reason: string, options?: { cause?: unknown }) {
    super(`subscription to "${subject}" ended by the server: ${reason}`, options);
  }
}

const SHOWN = 200;

/**
 * `text` as an error message or a log line may show it: quoted and escaped as JSON, with the line
 * and paragraph separators and C1 controls escaped too (so no CR, LF or control character gets
 * through raw), and cut to a readable length.
 */
export function quoted(text: string): string {
  const cut = text.length > SHOWN ? text.slice(0, SHOWN) : text;
  const json = JSON.stringify(cut).replace(/[\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
  return cut === text ? json : `${json}… (${text.length} characters)`;
}

/**
 * A subject (or reply subject, queue group, KV key) natsflow will not send: it could break the
 * protocol line, or is not a subject the server can route. Nothing was sent; the message names the
 * subject escaped.
 */
export class InvalidSubjectError extends NatsflowError {
  constructor(
    /** What it was: "subject", "reply subject", "queue group", … */
    readonly what: string,
    text: string,
    readonly reason: string,
  ) {
    super(`invalid ${what} ${quoted(text)}: ${reason}`);
  }
}

/** A header name or value natsflow will not send (CR, LF, NUL, …). Nothing was sent; a value is never shown, it may be a secret. */
export class InvalidHeaderError extends NatsflowError {
  constructor(
    readonly header: string,
    readonly reason: string,
  ) {
    super(`invalid header ${quoted(header)}: ${reason}`);
  }
}

/** The NATS connection could not be made or was lost for good. */
export class ConnectionError extends NatsflowError {}

export class RequestTimeoutError extends NatsflowError {
  constructor(readonly subject: string, timeoutMs: number, options?: { cause?: unknown }) {
    super(`request on "${subject}" timed out after ${timeoutMs} ms`, options);
  }
}

export class NoRespondersError extends NatsflowError {
  constructor(readonly subject: string, options?: { cause?: unknown }) {
    super(`no responders on "${subject}"`, options);
  }
}

/** A compare-and-set write to a key-value bucket lost: the key is not at the revision it named. */
export class RevisionMismatchError extends NatsflowError {
  constructor(readonly bucket: string, readonly key: string, options?: { cause?: unknown }) {
    super(`${bucket}: key "${key}" changed since it was read`, options);
  }
}

/** A JetStream publish was not stored: the stream refused it (an `expect` failed, …) or no stream captures the subject. */
export class PubAckError extends NatsflowError {
  constructor(readonly subject: string, reason: string, options?: { cause?: unknown }) {
    super(`publish to "${subject}" was not stored: ${reason}`, options);
  }
}
