import { HandlerError, OverloadedError, ValidationError } from "../errors.js";
import { headerText } from "../subjects.js";
import type { OutboundReply } from "./context.js";
import { HandledError } from "./exceptions.js";

/** NATS micro services convention: the error travels in headers; the body repeats it as JSON. */
export const SERVICE_ERROR_HEADER = "Nats-Service-Error";
export const SERVICE_ERROR_CODE_HEADER = "Nats-Service-Error-Code";

const encoder = new TextEncoder();
const MAX_DESCRIPTION = 512;

export interface ErrorReply {
  reply: OutboundReply;
  code: number;
  /** The `Nats-Service-Error` text: safe to show and to report in stats. */
  description: string;
  /** Client mistakes are warnings; server faults are errors, logged with their stack. */
  level: "warn" | "error";
}

/**
 * The answer to a failed handler: an exception handler's reply outcome; a HandlerError's own code
 * and text; anything else a bare 500.
 */
export function errorReply(error: unknown): ErrorReply {
  if (error instanceof HandledError) {
    const { outcome } = error;
    // A settle outcome says nothing to a requester: answered as the error itself.
    if (!("code" in outcome)) return errorReply(error.cause);
    const description = headerText(outcome.description ?? error.message, MAX_DESCRIPTION);
    return answer(outcome.code, description, undefined, outcome.headers, error.cause);
  }
  const known = error instanceof HandlerError;
  const code = known ? error.code : 500;
  const description = headerText(known ? error.message : "internal error", MAX_DESCRIPTION);
  return answer(code, description, error instanceof ValidationError ? error.issues : undefined, undefined, error);
}

function answer(code: number, description: string, issues: unknown, extra: Readonly<Record<string, string>> | undefined, error: unknown): ErrorReply {
  const body = { code, description, ...(issues !== undefined ? { issues } : {}) };
  return {
    reply: {
      data: encoder.encode(JSON.stringify(body)),
      headers: { ...extra, [SERVICE_ERROR_HEADER]: description, [SERVICE_ERROR_CODE_HEADER]: String(code) },
    },
    code,
    description,
    // Shedding load is the limit working, not a fault: no stack per refused message in a flood.
    level: code >= 500 && !(error instanceof OverloadedError) ? "error" : "warn",
  };
}
