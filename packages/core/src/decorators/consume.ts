import { SetupError } from "../errors.js";
import { resolveConsumeOptions, type ConsumeOptions } from "../jetstream/consume-options.js";
import { addHandler, getPublish } from "../metadata/handler-metadata.js";
import { resolvePayloadStage } from "../pipeline/subscribe-pipeline.js";

/**
 * Handles the messages a JetStream durable pull consumer delivers from `options.stream`, filtered to
 * `subject` (relative to the controller's prefix; `{name}` tokens work as with `@Subscribe`). The
 * message is acked once the handler succeeds, by default; see `ConsumeOptions.ack`.
 */
export function Consume(subject: string, options: ConsumeOptions) {
  return (prototype: object, method: string | symbol): void => {
    const target = prototype.constructor as new () => unknown;
    addHandler(target, {
      method,
      subject,
      options: options.concurrency !== undefined ? { concurrency: options.concurrency } : {},
      pipeline: ({ name }) => {
        if (getPublish(target, method).length > 0) {
          throw new SetupError(`${name} @Publish`, "is not supported on @Consume handlers yet.", "publish from the handler with the injected Broker.");
        }
        return [resolvePayloadStage(name, options).stage];
      },
      consume: (site) => resolveConsumeOptions(options, site),
    });
  };
}
