import { injectable, type MessageContext, type NatsMiddleware, type Next } from "@natsflow/core";

import { AuthCalloutConfig } from "../config/callout-config.js";
import { CalloutRequestError } from "../errors.js";
import { noteReplyAddress } from "./verify-request.js";
import { SEALED_BY } from "./state.js";

export const SERVER_XKEY_HEADER = "Nats-Server-Xkey";

/** Step 1: unseal an encrypted request. Sealed-vs-plain must match the configuration exactly. */
@injectable()
export class XkeyOpener implements NatsMiddleware {
  constructor(private readonly config: AuthCalloutConfig) {}

  async use(ctx: MessageContext, next: Next): Promise<void> {
    const data = ctx.payload as Uint8Array;
    const serverXkey = ctx.message.headers?.get(SERVER_XKEY_HEADER);
    const { xkey } = this.config;
    if (serverXkey !== undefined) {
      if (!xkey) {
        throw new CalloutRequestError(
          "encryption mismatch: the server sealed the request but this service has no xkey (set xkeySeed to the seed of the server's auth_callout.xkey)",
        );
      }
      const opened = xkey.open(data, serverXkey);
      if (!opened) throw new CalloutRequestError("cannot open the sealed request (wrong xkey, or tampered)");
      ctx.payload = opened;
      ctx.set(SEALED_BY, serverXkey);
    } else if (xkey) {
      // Plain passwords crossed the bus; answer (so the client is refused at once) but never grant.
      noteReplyAddress(ctx, data);
      throw new CalloutRequestError(
        "encryption mismatch: this service has an xkey but the request was not sealed (set auth_callout.xkey on the server)",
      );
    }
    await next();
  }
}
