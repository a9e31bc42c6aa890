import { HandlerError, OverloadedError, ValidationError } from "../errors.js";
import { headerText } from "../subjects.js";
import type { OutboundReply } from "./context.js";

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

/** The answer to a failed handler: a HandlerError's own code and text; anything else a bare 500. */
export function errorReply(error: unknown): ErrorReply {
  const known = error instanceof HandlerError;
  const code = known ? error.code : 500;
  const description = headerText(known ? error.message : "internal error", MAX_DESCRIPTION);
  const body = { code, description, ...(error instanceof ValidationError ? { issues: error.issues } : {}) };
  return {
    reply: {
      data: encoder.encode(JSON.stringify(body)),
      headers: { [SERVICE_ERROR_HEADER]: description, [SERVICE_ERROR_CODE_HEADER]: String(code) },
    },
    code,
    description,
    // Shedding load is the limit working, not a fault: no stack per refused message in a flood.
    level: code >= 500 && !(error instanceof OverloadedError) ? "error" : "warn",
  };
}
