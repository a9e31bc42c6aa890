import { SetupError } from "../../errors.js";
import type { HandlerKind } from "../kind.js";
import { Subscriber } from "./subscriber.js";

/**
 * A core NATS subscription to the handler's subject in its queue group (`@Subscribe`,
 * `@AuthCallout`, `app.subscribe`): replies to requests, and is a NATS micro endpoint.
 */
export const subscription: HandlerKind<undefined> = {
  name: "subscribe",
  prefixed: true,
  queued: true,
  resolve(_options, { name, filter, address, queue }) {
    return {
      share: {
        key: `subscribe\u0000${filter}\u0000${queue ?? ""}`,
        conflict: (other) =>
          new SetupError(name, `listens on "${filter}"${queue ? ` in queue "${queue}"` : ""} like ${other}; each message would run twice.`, "give one of them another subject or queue group."),
      },
      doc: { address, replies: true },
      open: (binding, env) => new Subscriber(binding, env),
    };
  },
};
