import { NatsflowError } from "@natsflow/core";

const MAX_REASON = 256;

/**
 * Throw from an authorizer to deny a client. The message is the reason the server logs
 * ("auth callout service returned an error: …"); the client itself only sees "Authorization Violation".
 * Keep secrets out of it.
 */
export class AuthError extends NatsflowError {
  constructor(reason: string, options?: { cause?: unknown }) {
    super(sanitizeReason(reason), options);
  }
}

/** The request itself is unacceptable (forged, expired, undecryptable, misaddressed). */
export class CalloutRequestError extends NatsflowError {}

/**
 * Refused by brute-force protection before the authorizer ran: too many recent failures for the
 * user or the client's address. The reason is fixed, so it does not tell which budget is spent.
 */
export class LoginLockedError extends NatsflowError {
  constructor() {
    super("too many failed logins, retry later");
  }
}

/** A key or seed that is not what it should be. */
export class KeyError extends NatsflowError {}

/** The authorizer returned something that cannot be turned into a user JWT. */
export class InvalidGrantError extends NatsflowError {}

/**
 * The grant's expiry is not after the moment it is signed (JWT times are whole seconds and the
 * server allows no skew), e.g. a grant bounded by a token that has just expired.
 */
export class GrantExpiredError extends InvalidGrantError {}

/** The authorizer did not answer before the deadline derived from the server's auth timeout. */
export class AuthorizerTimeoutError extends NatsflowError {}

/** One printable line, short enough for a server log. */
export function sanitizeReason(reason: unknown): string {
  const text = typeof reason === "string" && reason.trim() !== "" ? reason : "not authorized";
  // eslint-disable-next-line no-control-regex
  const line = text.replace(/[\u0000-\u001f\u007f]+/g, " ").trim();
  return line.length > MAX_REASON ? `${line.slice(0, MAX_REASON - 1)}…` : line;
}
