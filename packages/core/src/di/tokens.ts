/** Injection tokens for things that are types, not classes. */
export const LOGGER = Symbol.for("natsflow:logger");
/** In a message's container: the `InboundMessage` being handled. */
export const MESSAGE = Symbol.for("natsflow:message");
/** In a message's container: its `MessageHeaders`, or undefined. */
export const HEADERS = Symbol.for("natsflow:headers");
/** The app's `ResourceRegistry`: streams, KV buckets and object stores it uses, set up at start. */
export const RESOURCES = Symbol.for("natsflow:resources");
/** The app's declared publishers (`Publishers`), one `Publisher` per declaration. */
export const PUBLISHERS = Symbol.for("natsflow:publishers");
