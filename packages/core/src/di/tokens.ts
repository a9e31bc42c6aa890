/** Injection tokens for things that are types, not classes. */
export const LOGGER = Symbol.for("natsflow:logger");
