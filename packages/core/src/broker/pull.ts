import { jsonCodec, resolveCodec, type Codec, type CodecOption } from "../codec/codec.js";
import { NatsflowError } from "../errors.js";
import type { JetStreamMessage, PullConsumer } from "../transport/transport.js";
import { validate, type StandardSchemaV1 } from "../validation/standard-schema.js";

export interface PullOptions {
  /** How payloads are decoded: "json" (default), "string", "bytes", or your own. */
  codec?: CodecOption;
  /** A Standard Schema the decoded payload must satisfy; a message that does not is terminated and left out. */
  schema?: StandardSchemaV1;
}

export interface FetchOptions extends PullOptions {
  /** The most messages to take. Default 100. */
  max?: number;
  /** How long the server may wait for them: at least 1000 ms (the client's floor). Default 5000 ms. */
  expiresMs?: number;
}

export interface ConsumeLoopOptions extends PullOptions {
  /** Messages asked for ahead of the loop; each waits unacked until the loop reaches it. Default 10. */
  max?: number;
  /** How long each standing pull lasts before it is renewed. Default 5000 ms. */
  expiresMs?: number;
}

/** A message pulled by hand: its decoded payload, where it came from, and its settlement (exactly once). */
export interface PulledMessage<T = unknown> extends Pick<JetStreamMessage, "subject" | "headers" | "sequence" | "deliveries" | "ack" | "nak" | "term" | "working"> {
  readonly data: T;
  /** The message as delivered, payload undecoded. */
  readonly raw: JetStreamMessage;
}

/** An async iterable of pulled messages; leaving the loop (or `stop()`) ends the pull. */
export interface PulledMessages<T> extends AsyncIterable<PulledMessage<T>> {
  /** Ends the pull: messages pulled but not yet handed to the loop are nak'ed for the next puller. */
  stop(): void;
}

/** Decodes and validates pulled messages; one that fails is terminated (it would fail again) and left out. */
export class PullDecoder<T> {
  private readonly codec: Codec;

  constructor(private readonly options: PullOptions) {
    this.codec = options.codec === undefined ? jsonCodec : resolveCodec(options.codec, "codec");
  }

  async decode(raw: JetStreamMessage): Promise<PulledMessage<T> | undefined> {
    let data: unknown;
    try {
      data = this.codec.decode(raw.data);
      if (this.options.schema) data = await validate(this.options.schema, data);
    } catch (e) {
      raw.term(e instanceof Error ? e.message : String(e));
      return undefined;
    }
    return {
      data: data as T,
      subject: raw.subject,
      headers: raw.headers,
      sequence: raw.sequence,
      deliveries: raw.deliveries,
      raw,
      ack: () => raw.ack(),
      nak: (delayMs) => raw.nak(delayMs),
      term: (reason) => raw.term(reason),
      working: () => raw.working(),
    };
  }
}

// The nats client refuses shorter pulls.
const MIN_EXPIRES_MS = 1_000;

/** One pull of up to `max` messages, decoded. */
export async function fetchFrom<T>(consumer: PullConsumer, options: FetchOptions): Promise<PulledMessage<T>[]> {
  const { max = 100, expiresMs = 5_000 } = options;
  if (!Number.isInteger(max) || max < 1) throw new NatsflowError(`fetch max must be a whole number ≥ 1, got ${String(max)}`);
  if (!(expiresMs >= MIN_EXPIRES_MS)) throw new NatsflowError(`fetch expiresMs must be at least ${MIN_EXPIRES_MS}, got ${String(expiresMs)}`);
  const decoder = new PullDecoder<T>(options);
  const raw: JetStreamMessage[] = [];
  await consumer.pull({ max, expiresMs }, (m) => raw.push(m)).done;
  const out: PulledMessage<T>[] = [];
  for (const m of raw) {
    const decoded = await decoder.decode(m);
    if (decoded) out.push(decoded);
  }
  return out;
}

/** A standing pull handed to a `for await` loop one message at a time. */
export function consumeFrom<T>(open: Promise<PullConsumer>, options: ConsumeLoopOptions): PulledMessages<T> {
  const decoder = new PullDecoder<T>(options);
  const queue: JetStreamMessage[] = [];
  let wake: (() => void) | undefined;
  let ended = false;
  let failure: unknown;
  let stopPull: (() => void) | undefined;
  const notify = () => {
    wake?.();
    wake = undefined;
  };
  const stop = () => {
    if (ended) return;
    ended = true;
    stopPull?.();
    for (const m of queue.splice(0)) m.nak();
    notify();
  };
  void open.then(
    (consumer) => {
      if (ended) return;
      const pull = consumer.consume({ max: options.max ?? 10, expiresMs: options.expiresMs ?? 5_000 }, (m) => {
        if (ended) m.nak();
        else {
          queue.push(m);
          notify();
        }
      });
      stopPull = () => pull.stop();
      pull.done.then(
        () => stop(),
        (e: unknown) => {
          failure = e;
          stop();
        },
      );
    },
    (e: unknown) => {
      failure = e;
      stop();
    },
  );
  return {
    stop,
    [Symbol.asyncIterator]: () => ({
      next: async (): Promise<IteratorResult<PulledMessage<T>>> => {
        for (;;) {
          const raw = queue.shift();
          if (raw) {
            const decoded = await decoder.decode(raw);
            if (decoded) return { value: decoded, done: false };
            continue;
          }
          if (ended) {
            if (failure !== undefined) {
              const error = failure;
              failure = undefined;
              throw error;
            }
            return { value: undefined, done: true };
          }
          await new Promise<void>((resolve) => (wake = resolve));
        }
      },
      return: async (): Promise<IteratorResult<PulledMessage<T>>> => {
        stop();
        return { value: undefined, done: true };
      },
    }),
  };
}
