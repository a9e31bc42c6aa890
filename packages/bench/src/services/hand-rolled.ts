// The reference: the same decisions written the way public examples do it today, with `nats`,
// `nkeys.js` and `@nats-io/jwt` directly: a serial `for await` loop, tweetnacl crypto throughout.
import { decode, encodeAuthorizationResponse, encodeUser, type AuthorizationRequest } from "@nats-io/jwt";
import { connect } from "nats";
import { fromCurveSeed, fromPublic, fromSeed } from "nkeys.js";

import { makeDirectory, passwordMatches, permissionsFor } from "../directory.js";

const env = process.env;
const te = new TextEncoder();
const td = new TextDecoder();
const users = makeDirectory();
const issuer = fromSeed(te.encode(env.NATS_CALLOUT_ISSUER_SEED as string));
const xkp = env.NATS_CALLOUT_XKEY_SEED ? fromCurveSeed(te.encode(env.NATS_CALLOUT_XKEY_SEED)) : undefined;

const nc = await connect({ servers: env.NATS_URL as string, user: env.NATS_USER as string, pass: env.NATS_PASSWORD as string });
const sub = nc.subscribe("$SYS.REQ.USER.AUTH");
process.on("message", (m) => {
  if (m === "usage") process.send?.({ cpu: process.cpuUsage(), memory: process.memoryUsage() });
});
process.send?.("ready");
process.once("SIGTERM", () => void nc.drain().then(() => process.exit(0)));

for await (const msg of sub) {
  const serverKey = msg.headers?.get("Nats-Server-Xkey");
  const data = serverKey && xkp ? xkp.open(msg.data, serverKey) : msg.data;
  if (!data) continue;
  const req = decode<AuthorizationRequest>(td.decode(data));
  const { user_nkey: userNkey, server_id: server, connect_opts: opts } = req.nats as AuthorizationRequest;
  const record = users.get(opts.user ?? "");
  let response: string;
  if (!record || !passwordMatches(record.pass, opts.pass)) {
    response = await encodeAuthorizationResponse(fromPublic(userNkey), fromPublic(server.id), issuer, { error: "invalid credentials" }, {});
  } else {
    const permissions = permissionsFor(opts.user ?? "");
    // "all": no pub/sub restriction in the JWT, as natsflow issues it.
    const jwt = await encodeUser(opts.user ?? "", fromPublic(userNkey), issuer, permissions === "all" ? {} : permissions, { aud: record.account });
    response = await encodeAuthorizationResponse(fromPublic(userNkey), fromPublic(server.id), issuer, { jwt }, {});
  }
  const out = te.encode(response);
  msg.respond(serverKey && xkp ? xkp.seal(out, serverKey) : out);
}
