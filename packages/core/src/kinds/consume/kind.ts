import { SetupError } from "../../errors.js";
import { streamResource } from "../../resources/stream.js";
import type { HandlerKind } from "../kind.js";
import { JetStreamConsumer } from "./consumer.js";
import { DELIVERY } from "./jetstream-delivery.js";
import { resolveConsumeOptions, type ConsumeOptions } from "./options.js";

/**
 * A JetStream consumer of the handler's subject (`@Consume`): a durable, pull or push, an
 * ephemeral one per instance, or an ordered one. Its stream is set up at start; its messages are acked, nak'ed or dead-lettered.
 */
export const consume: HandlerKind<ConsumeOptions> = {
  name: "consume",
  prefixed: true,
  queued: false,
  resolve(options, site) {
    const spec = resolveConsumeOptions(options, { name: site.name, filter: site.filter, concurrency: site.concurrency, takesDelivery: site.reads(DELIVERY) });
    site.use(streamResource(spec.stream, site.name));
    const { consumer, ordered, stream } = spec;
    return {
      // Every instance of an ordered or ephemeral consumer reads every message: nothing to share.
      share: consumer?.ephemeral ? undefined : consumer && {
        key: `consume\u0000${consumer.stream}\u0000${consumer.durable}`,
        // One durable is one consumer on the server: one subject, one set of settings.
        terms: JSON.stringify({ consumer, ack: spec.ack, bind: spec.bind, deadLetter: spec.deadLetter, batch: spec.batch }),
        conflict: (other) =>
          new SetupError(
            `${site.name} durable`,
            `"${consumer.durable}" on stream ${consumer.stream} is also used by ${other}, and neither has a filter; each message would reach one of them at random.`,
            "give each handler its own durable, or a filter to tell them apart.",
          ),
        mismatch: (other) =>
          new SetupError(
            `${site.name} durable`,
            `"${consumer.durable}" on stream ${consumer.stream} is also used by ${other} with another subject or other settings; one durable has one subject and one set of settings.`,
            "give each handler its own durable, or the same subject and consume options.",
          ),
      },
      doc: {
        address: site.address,
        replies: false,
        extensions: {
          "x-natsflow-jetstream": ordered
            ? { stream: stream.config.name, consumer: "ordered", startAt: ordered.startAt }
            : {
                stream: stream.config.name,
                consumer: consumer?.ephemeral ? "ephemeral" : consumer?.push ? "push" : "pull",
                ...(consumer?.ephemeral ? {} : { durable: consumer?.durable }),
                ...(consumer?.startAt !== undefined ? { startAt: consumer.startAt } : {}),
                ...(consumer?.filterSubjects ? { filterSubjects: consumer.filterSubjects } : {}),
                ...(consumer?.headersOnly ? { headersOnly: true } : {}),
                ack: spec.ack,
                maxAckPending: consumer?.maxAckPending,
                maxDeliver: consumer?.maxDeliver,
                ...(spec.deadLetter ? { deadLetter: spec.deadLetter } : {}),
                // The handler takes an array of up to max messages.
                ...(spec.batch ? { batch: { max: spec.batch.max, expiresMs: spec.batch.expiresMs, ...(spec.batch.maxBytes !== undefined ? { maxBytes: spec.batch.maxBytes } : {}) } } : {}),
              },
        },
      },
      open: (binding, { transport, container, metrics }) => new JetStreamConsumer(binding, spec, transport, container, metrics),
    };
  },
};
