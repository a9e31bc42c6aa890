// An @AuthCallout service in NATS micro discovery: its subscription is an endpoint like any handler's.
import "reflect-metadata";

import { AUTH_CALLOUT_SUBJECT, AuthCallout, AuthError, DEFAULT_AUTH_QUEUE, type Authorizer, type AuthRequest, type Grant } from "@natsflow/auth-callout";
import { captureLogs, createCalloutHarness } from "@natsflow/testing";
import { expect, it } from "vitest";

@AuthCallout()
class Gate implements Authorizer {
  authorize(req: AuthRequest): Grant {
    if (req.username !== "ann") throw new AuthError("invalid credentials");
    return { account: "APP", permissions: "all" };
  }
}

it("shows the callout as an endpoint and counts its requests; a denial is an answer, not an error", async () => {
  const h = await createCalloutHarness({ controllers: [Gate], service: { name: "auth", version: "1.0.0" }, logger: captureLogs("fatal").logger });
  try {
    expect((await h.authorize({ user: "ann" })).userJwt).toBeDefined();
    expect((await h.authorize({ user: "bob" })).error).toBe("invalid credentials");
    const client = h.broker.connect();
    const reply = await client.request(`$SRV.STATS.auth.${h.app.serviceId}`, new Uint8Array(0), { timeoutMs: 1_000 });
    const stats = JSON.parse(new TextDecoder().decode(reply.data)) as { endpoints: unknown[] };
    expect(stats.endpoints).toEqual([
      expect.objectContaining({ name: "Gate-authorize", subject: AUTH_CALLOUT_SUBJECT, queue_group: DEFAULT_AUTH_QUEUE, num_requests: 2, num_errors: 0, last_error: "" }),
    ]);
  } finally {
    await h.stop();
  }
});
