import { headerText, isValidHeaderName } from "../../subjects.js";
import type { HeadersInit, JetStreamMessage } from "../../transport/transport.js";

export const DEAD_LETTER_STREAM_HEADER = "Natsflow-Dead-Letter-Stream";
export const DEAD_LETTER_CONSUMER_HEADER = "Natsflow-Dead-Letter-Consumer";
export const DEAD_LETTER_SUBJECT_HEADER = "Natsflow-Dead-Letter-Subject";
export const DEAD_LETTER_SEQUENCE_HEADER = "Natsflow-Dead-Letter-Sequence";
export const DEAD_LETTER_DELIVERIES_HEADER = "Natsflow-Dead-Letter-Deliveries";
export const DEAD_LETTER_ERROR_HEADER = "Natsflow-Dead-Letter-Error";

const MAX_ERROR = 512;

/** The message's own headers, plus where it came from and why it is dead. */
export function deadLetterHeaders(message: JetStreamMessage, error: unknown): HeadersInit {
  const out: Record<string, string | readonly string[]> = {};
  // As they arrived, but only what can be sent again: another client's header may hold a control character.
  for (const name of message.headers?.keys() ?? []) {
    if (isValidHeaderName(name)) out[name] = (message.headers?.values(name) ?? []).map((v) => headerText(v, v.length));
  }
  const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  out[DEAD_LETTER_STREAM_HEADER] = message.stream;
  out[DEAD_LETTER_CONSUMER_HEADER] = message.consumer;
  out[DEAD_LETTER_SUBJECT_HEADER] = message.subject;
  out[DEAD_LETTER_SEQUENCE_HEADER] = String(message.sequence);
  out[DEAD_LETTER_DELIVERIES_HEADER] = String(message.deliveries);
  out[DEAD_LETTER_ERROR_HEADER] = headerText(reason, MAX_ERROR);
  return out;
}
