// What the JetStream benchmark's processes share: the stream, its subjects, the work's concurrency.
export const BENCH_STREAM = "BENCH_JS";
export const BENCH_SUBJECTS = ["bench.js.>"];
/** Messages in flight per consumer (natsflow `concurrency`, raw `max_ack_pending` and batch). */
export const CONCURRENCY = 64;
/** Messages per batch of the batch consumer case. */
export const BATCH = 100;
/** PubAcks awaited at once by the publishers. */
export const PUBLISH_WINDOW = 64;
