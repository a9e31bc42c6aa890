// The shape of a send, apart from the code that sends it: the message being handled carries its router's chain (dispatch/current.ts).

/** One send on its way out, as outgoing middleware sees (and may change) it. */
export interface OutgoingMessage {
  /** A core publish, a request (awaiting its reply), or a JetStream publish (awaiting its PubAck). */
  readonly operation: "publish" | "request" | "jetstream";
  subject: string;
  /** The encoded payload: replace it to change what is sent. */
  data: Uint8Array;
  /** The value `data` was encoded from, when the sender had one (changing it does not re-encode). */
  readonly value: unknown;
  /** What is sent as headers, the correlation id included: add, change or delete entries. */
  headers: Record<string, string | readonly string[]>;
  /** Who sends: a declared publisher's name, `Class.method @Publish`, or `broker`. */
  readonly sender: string;
  /** Once `next()` resolved: the reply of a request, the PubAck of a JetStream publish. */
  result: unknown;
}

/** A composed outgoing chain, ending in the send itself. */
export type OutgoingChain = (message: OutgoingMessage) => Promise<void>;
