// Short server timeouts: nats-server truncates a request's `exp` to whole seconds, so a deadline taken
// from `exp` leaves almost nothing for requests issued late in a wall-clock second. The deadline is
// counted from arrival instead; every connect, whatever its phase in the second, must be admitted.
import "reflect-metadata";

import { AuthCallout, authCalloutConfig, type AuthCalloutOptions, type Authorizer, type Grant } from "@natsflow/auth-callout";
import { NatsApp } from "@natsflow/core";
import { captureLogs, configModeCallout, startNatsServer } from "@natsflow/testing";
import { connect } from "nats";
import { describe, expect, it } from "vitest";

@AuthCallout()
class Admit implements Authorizer {
  authorize(): Grant {
    return { account: "APP", permissions: "all" };
  }
}

const CONNECTS = 200;

async function spreadAcrossTheSecond(url: string): Promise<{ admitted: number; refused: string[] }> {
  // One connect every 5 ms: 200 of them sample every phase of the wall-clock second.
  const outcomes = await Promise.all(
    Array.from({ length: CONNECTS }, async (_, i) => {
      await new Promise((r) => setTimeout(r, i * 5));
      try {
        const nc = await connect({ servers: url, user: `u${i}`, pass: "x", reconnect: false, timeout: 5000 });
        await nc.close();
        return undefined;
      } catch (e) {
        return (e as Error).message;
      }
    }),
  );
  const refused = outcomes.filter((o): o is string => o !== undefined);
  return { admitted: CONNECTS - refused.length, refused };
}

describe.each([
  { timeout: 1, callout: {} },
  { timeout: 0.5, callout: {} },
  { timeout: 0.5, callout: { serverTimeoutMs: 500 } },
])("authorization.timeout $timeout s, callout options $callout", ({ timeout, callout }: { timeout: number; callout: Partial<AuthCalloutOptions> }) => {
  it(`admits all ${CONNECTS} connects spread across the wall-clock second`, async () => {
    const setup = configModeCallout({ authTimeoutSeconds: timeout });
    const server = await startNatsServer({ config: setup.serverConfig });
    const logs = captureLogs();
    const app = await NatsApp.create({
      servers: server.url,
      ...setup.serviceUser,
      controllers: [Admit],
      providers: [authCalloutConfig({ ...setup.callout, ...callout })],
      logger: logs.logger,
    });
    await app.start();
    try {
      const { admitted, refused } = await spreadAcrossTheSecond(server.url);
      expect(refused).toEqual([]);
      expect(admitted).toBe(CONNECTS);
      expect(logs.find(/denied/)).toEqual([]);
      expect(server.log).not.toMatch(/timed out|not received in time/i);
    } finally {
      await app.stop();
      await server.stop();
    }
  });
});
