// What operators see: the decision log, Prometheus metrics, health and readiness, audit events.
import "reflect-metadata";

import { AuthCallout, authCalloutConfig, AuthError, type Authorizer, type AuthRequest, type Grant } from "@natsflow/auth-callout";
import { NatsApp } from "@natsflow/core";
import { captureLogs, configModeCallout, registerSecret, startNatsServer } from "@natsflow/testing";
import { connect } from "nats";
import { describe, expect, it } from "vitest";

const PASSWORD = "obs3rvable-secret";
registerSecret(PASSWORD);

@AuthCallout()
class Gatekeeper implements Authorizer {
  authorize(req: AuthRequest): Grant {
    if (req.username === "ann" && req.password === PASSWORD) return { account: "APP", permissions: "all" };
    throw new AuthError("invalid credentials");
  }
}

describe("observability", () => {
  it("decision logs, metrics, /healthz, /readyz and audit events, none carrying a secret", async () => {
    const setup = configModeCallout({ xkey: true });
    const server = await startNatsServer({ config: setup.serverConfig });
    const logs = captureLogs("info");
    const app = await NatsApp.create({
      servers: server.url,
      ...setup.serviceUser,
      controllers: [Gatekeeper],
      providers: [authCalloutConfig({ ...setup.callout, auditSubject: "natsflow.auth.audit" })],
      logger: logs.logger,
      http: { port: 0 },
    });
    await app.start();
    const base = app.httpUrl as string;
    try {
      // Audit events are published in the callout account; the service's own login can read them.
      const auditor = await connect({ servers: server.url, ...setup.serviceUser });
      const events: Array<Record<string, unknown>> = [];
      auditor.subscribe("natsflow.auth.audit", { callback: (_e, m) => events.push(m.json()) });
      await auditor.flush();

      await (await connect({ servers: server.url, user: "ann", pass: PASSWORD, reconnect: false })).close();
      await expect(connect({ servers: server.url, user: "ann", pass: "wrong-password-x", reconnect: false })).rejects.toThrow(/authorization violation/i);
      await expect.poll(() => events.length).toBe(2);

      expect(events[0]).toMatchObject({ decision: "grant", reasonKind: "granted", user: "ann", account: "APP", server: expect.stringMatching(/^N/) });
      expect(events[1]).toMatchObject({ decision: "deny", reasonKind: "denied", reason: "invalid credentials", user: "ann" });
      expect((events[1]?.client as { host: string }).host).toBe("127.0.0.1");
      expect(JSON.stringify(events)).not.toMatch(/obs3rvable|wrong-password/);

      const lines = logs.entries().filter((e) => typeof e.decision === "string");
      expect(lines).toHaveLength(2);
      for (const line of lines) expect(Object.keys(line)).toEqual(expect.arrayContaining(["decision", "reasonKind", "user", "client", "server", "ms"]));

      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      expect((await fetch(`${base}/readyz`)).status).toBe(200);
      const metrics = await (await fetch(`${base}/metrics`)).text();
      expect(metrics).toMatch(/natsflow_auth_decisions_total\{decision="grant",reason="granted"\} 1/);
      expect(metrics).toMatch(/natsflow_auth_decisions_total\{decision="deny",reason="denied"\} 1/);
      expect(metrics).toMatch(/natsflow_auth_decision_seconds_count\{decision="grant"\} 1/);
      expect(metrics).toMatch(/natsflow_handler_in_flight\{handler="Gatekeeper.authorize"\} 0/);
      expect(metrics).toMatch(/natsflow_nats_connected 1/);

      // Not ready while the server is away; ready again once reconnected.
      await server.halt();
      await expect.poll(async () => (await fetch(`${base}/readyz`)).status, { timeout: 5000 }).toBe(503);
      expect(await (await fetch(`${base}/metrics`)).text()).toMatch(/natsflow_nats_connected 0/);
      await server.resume();
      await expect.poll(async () => (await fetch(`${base}/readyz`)).status, { timeout: 10_000 }).toBe(200);
      await auditor.close();
    } finally {
      await app.stop();
      await server.stop();
    }
    await expect(fetch(`${base}/healthz`)).rejects.toThrow();
  }, 30_000);
});
