import { Broker } from "../../broker/broker.js";
import { addHandler } from "../../metadata/handler-metadata.js";
import { SetupError } from "../../errors.js";
import { replyStage, resolvePayloadOptions, resolvePayloadStage } from "../../pipeline/subscribe-pipeline.js";
import { declareSource } from "../kind.js";
import { batchPayloadStage } from "./batch.js";
import { consume } from "./kind.js";
import type { ConsumeOptions } from "./options.js";

/**
 * Handles the messages a JetStream consumer delivers from `options.stream`, filtered to `subject`
 * (relative to the controller's prefix; `{name}` tokens work as with `@Subscribe`): a durable pull
 * consumer by default, acking each message once the handler succeeds (see `ConsumeOptions.ack`);
 * `push: true` for a push durable, `ephemeral: true` for a consumer of each instance's own,
 * `ordered: true` for an ordered consumer every instance reads whole, `batch: { max }` for a handler
 * that takes an array of up to `max` payloads. The consumer's server settings (`startAt`,
 * `filterSubjects`, `headersOnly`, …) are in `ServerConsumerOptions`.
 */
export function Consume(subject: string, options: ConsumeOptions) {
  return (prototype: object, method: string | symbol): void => {
    const target = prototype.constructor as new () => unknown;
    addHandler(target, {
      method,
      subject,
      // In stream order means one at a time; a batch holds many messages, so one batch at a time unless told.
      options: {
        ...(options.ordered ? { concurrency: 1 } : options.concurrency !== undefined ? { concurrency: options.concurrency } : options.batch ? { concurrency: 1 } : {}),
        ...(options.filter !== undefined ? { filter: options.filter } : {}),
      },
      pipeline: ({ name, container, publishes }) => {
        if (!options.ordered && options.batch) {
          if (publishes.length > 0) throw new SetupError(`${name} @Publish`, "has no one result to publish from a batch handler.", "publish from the handler through the Broker, or drop batch.");
          const { codec, schema, maxPayloadBytes } = resolvePayloadOptions(name, options);
          return [batchPayloadStage(codec, schema, maxPayloadBytes)];
        }
        const { codec, stage } = resolvePayloadStage(name, options);
        // No reply; a stream publish is stored before the message is acked (after-success).
        return publishes.length > 0 ? [replyStage(codec, publishes, container.resolve(Broker), false), stage] : [stage];
      },
      source: declareSource(consume, options),
      describe: { schema: options.schema, codec: options.codec, summary: options.summary },
    });
  };
}
