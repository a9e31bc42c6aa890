import { SetupError } from "../errors.js";
import type { KvDeclaration } from "../jetstream/kv.js";
import { kvPayloadStage, resolveWatchKv, type WatchKvOptions } from "../jetstream/kv-watch.js";
import { addHandler, getPublish } from "../metadata/handler-metadata.js";

/**
 * Runs for the entries of a `defineKv()` bucket: every matching key's current value once (unless
 * `initial: false`), then each PUT, DEL and PURGE, one at a time in revision order. `@Payload()` is
 * the decoded value (undefined for DEL and PURGE); `@KvEntry()` says which key, revision and operation.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a bucket of any value type
export function WatchKv(bucket: KvDeclaration<any>, options: WatchKvOptions = {}) {
  return (prototype: object, method: string | symbol): void => {
    const target = prototype.constructor as new () => unknown;
    addHandler(target, {
      method,
      subject: options.keys ?? ">",
      options: {},
      pipeline: ({ name }) => {
        if (getPublish(target, method).length > 0) {
          throw new SetupError(`${name} @Publish`, "is not supported on @WatchKv handlers.", "publish from the handler with the injected Broker.");
        }
        return [kvPayloadStage(bucket, options, name)];
      },
      watch: ({ name, filter }) => resolveWatchKv(bucket, options, name, filter),
    });
  };
}
