import { Broker } from "../../broker/broker.js";
import { addHandler } from "../../metadata/handler-metadata.js";
import { replyStage } from "../../pipeline/subscribe-pipeline.js";
import type { KvDeclaration } from "../../resources/kv.js";
import { declareSource } from "../kind.js";
import { kvPayloadStage, watchKv, type WatchKvOptions } from "./kv-watch.js";

/**
 * Runs for the entries of a `defineKv()` bucket: every matching key's current value once (unless
 * `initial: false`), then each PUT, DEL and PURGE, one at a time in revision order. `@Payload()` is
 * the decoded value (undefined for DEL and PURGE); `@KvEntry()` says which key, revision and operation.
 * With `@Publish`, a returned value is published in the bucket's codec.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a bucket of any value type
export function WatchKv(bucket: KvDeclaration<any>, options: WatchKvOptions = {}) {
  return (prototype: object, method: string | symbol): void => {
    const target = prototype.constructor as new () => unknown;
    addHandler(target, {
      method,
      subject: options.keys ?? ">",
      options: {},
      pipeline: ({ name, container, publishes }) => {
        const { codec, stage } = kvPayloadStage(bucket, options, name);
        // What it returns is published (stream targets stored) before the next entry runs.
        return publishes.length > 0 ? [replyStage(codec, publishes, container.resolve(Broker), false), stage] : [stage];
      },
      source: declareSource(watchKv, { ...options, bucket }),
      describe: { schema: options.schema, codec: options.codec },
    });
  };
}
