import { contextParam } from "../../metadata/handler-metadata.js";
import { DELIVERY } from "./jetstream-delivery.js";
import { consume } from "./kind.js";

/** The `JetStreamDelivery` of a `@Consume` handler's message: sequence, deliveries, ack/nak/term/working; a batch consumer's `JetStreamBatch`. */
export function Delivery() {
  return contextParam({ key: DELIVERY, decorator: "@Delivery()", kinds: [consume.name], elsewhere: ["is only for @Consume handlers.", "remove it, or consume from a stream."] });
}
