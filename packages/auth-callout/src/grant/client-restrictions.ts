import { BlockList, isIP } from "node:net";

import { AuthError } from "../errors.js";
import type { AuthRequest } from "../request/auth-request.js";
import type { Grant } from "./grant.js";

// client_info.type as nats-server reports it → the JWT connection type names.
const TYPE_NAMES: Record<string, string> = {
  nats: "STANDARD",
  websocket: "WEBSOCKET",
  leafnode: "LEAFNODE",
  mqtt: "MQTT",
};

/**
 * nats-server 2.10 does not enforce `limits.src` or `allowedConnectionTypes` for callout users, so a
 * grant that carries them is checked here, before anything is signed: the promise holds either way.
 */
export function enforceClientRestrictions(grant: Grant, request: AuthRequest): void {
  const types = grant.allowedConnectionTypes;
  if (types && types.length > 0) {
    const type = TYPE_NAMES[request.clientInfo.type ?? "nats"] ?? String(request.clientInfo.type).toUpperCase();
    if (!types.includes(type as never)) throw new AuthError(`connection type ${type} not allowed`);
  }
  const src = grant.limits?.src;
  if (src && src.length > 0) {
    const host = request.clientInfo.host ?? "";
    const family = isIP(host);
    const allowed = new BlockList();
    // Validated CIDRs (validateGrant): an address and a prefix length each.
    for (const cidr of src) {
      const [net = "", bits] = cidr.split("/");
      allowed.addSubnet(net, Number(bits), isIP(net) === 4 ? "ipv4" : "ipv6");
    }
    if (!family || !allowed.check(host, family === 4 ? "ipv4" : "ipv6")) throw new AuthError("source address not allowed");
  }
}
