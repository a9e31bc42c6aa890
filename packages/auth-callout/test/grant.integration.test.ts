// A grant the callout does not understand is refused on a real nats-server, which logs why; a valid
// grant is admitted and restricts the client exactly as written.
import "reflect-metadata";

import { AuthCallout, authCalloutConfig, AuthError, type Authorizer, type AuthRequest, type Grant } from "@natsflow/auth-callout";
import { NatsApp } from "@natsflow/core";
import { captureLogs, configModeCallout, startNatsServer, type NatsServer } from "@natsflow/testing";
import { connect, type NatsConnection } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const enc = new TextEncoder();

/** The three reproductions, each next to a correct subscribe permission. */
const BAD: Record<string, [unknown, RegExp]> = {
  typo: [{ publish: { allow: ["orders.>"] } }, /permissions\.publish: unknown key; did you mean "pub"\?/],
  string: [{ pub: "orders.>" }, /permissions\.pub: must be \{ allow, deny \}, not a string/],
  empty: [{ pub: { allow: [] } }, /permissions\.pub\.allow: empty/],
};

@AuthCallout()
class GrantsAuthorizer implements Authorizer {
  authorize(req: AuthRequest): Grant {
    const bad = BAD[req.username ?? ""];
    if (bad) return { account: "APP", permissions: { sub: { allow: ["orders.>", "_INBOX.>"] }, ...(bad[0] as object) } } as Grant;
    if (req.username === "valid") {
      return { account: "APP", permissions: { pub: { allow: ["orders.>", "$SYS.REQ.USER.INFO"] }, sub: { allow: ["orders.>", "_INBOX.>"] } } };
    }
    throw new AuthError("unknown user");
  }
}

/** Publishes where the grant does not allow it; resolves with the client's error status (undefined after `ms`). */
async function refusedPublish(nc: NatsConnection, subject: string, ms = 3000): Promise<string | undefined> {
  const seen = (async () => {
    for await (const s of nc.status()) if (s.type === "error") return String(s.data);
    return undefined;
  })();
  nc.publish(subject, enc.encode("x"));
  return Promise.race([seen, new Promise<undefined>((r) => setTimeout(() => r(undefined), ms))]);
}

describe("grant validation on a real nats-server", () => {
  let server: NatsServer;
  let app: NatsApp;
  const logs = captureLogs();

  beforeAll(async () => {
    const setup = configModeCallout({ xkey: true });
    server = await startNatsServer({ config: setup.serverConfig });
    app = await NatsApp.create({
      servers: server.url,
      ...setup.serviceUser,
      controllers: [GrantsAuthorizer],
      providers: [authCalloutConfig({ ...setup.callout, bruteForce: false })],
      logger: logs.logger,
    });
    await app.start();
  });
  afterAll(async () => {
    await app?.stop();
    await server?.stop();
  });

  for (const [user, [permissions, why]] of Object.entries(BAD)) {
    it(`refuses ${JSON.stringify(permissions)}: the server logs why, and so does the decision log`, async () => {
      await expect(connect({ servers: server.url, user, pass: "x", reconnect: false })).rejects.toThrow(/authorization violation/i);
      const line = await server.waitForLog(new RegExp(`\\[WRN\\] .*Auth callout service returned an error: invalid grant: ${why.source}`));
      expect(line).toBeTruthy();
      expect(logs.find(/denied/).find((e) => e.user === user)).toMatchObject({ decision: "deny", reasonKind: "invalid_grant", reason: expect.stringMatching(why) });
    });
  }

  it("admits a valid grant, which restricts the client to what it says", async () => {
    const nc = await connect({ servers: server.url, user: "valid", pass: "x", reconnect: false });
    try {
      const info = JSON.parse(new TextDecoder().decode((await nc.request("$SYS.REQ.USER.INFO", enc.encode(""), { timeout: 2000 })).data)) as {
        data: { account: string; permissions: { publish: { allow: string[] }; subscribe: { allow: string[] } } };
      };
      expect(info.data.account).toBe("APP");
      expect([...info.data.permissions.publish.allow].sort()).toEqual(["$SYS.REQ.USER.INFO", "orders.>"]);
      // Allowed: a message on orders.> goes round.
      const sub = nc.subscribe("orders.1", { max: 1 });
      await nc.flush();
      nc.publish("orders.1", enc.encode("hello"));
      for await (const m of sub) expect(new TextDecoder().decode(m.data)).toBe("hello");
      // Not allowed: the server refuses a publish outside the grant.
      expect(await refusedPublish(nc, "payments.1")).toBe("PERMISSIONS_VIOLATION");
      expect(await server.waitForLog(/Publish Violation - User "valid", Subject "payments\.1"/)).toBeTruthy();
    } finally {
      await nc.close();
    }
  });
});
