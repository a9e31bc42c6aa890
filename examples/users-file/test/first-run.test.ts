// `npm run demo` and `npm start` as a newcomer runs them: real processes, real server, real clients.
import { fileURLToPath } from "node:url";

import { spawnTracked } from "@natsflow/testing";
import { connect } from "nats";
import { describe, expect, it } from "vitest";

const dist = (file: string) => fileURLToPath(new URL(`../dist/${file}`, import.meta.url));

function launch(file: string, env: Record<string, string> = {}) {
  return spawnTracked(process.execPath, [dist(file)], { label: `process ${file}`, env: { ...process.env, LOG_LEVEL: "warn", ...env } });
}

describe("first run", () => {
  it("npm run demo prints the five expected outcomes and exits 0", async () => {
    const demo = launch("demo.js");
    expect((await demo.exited).code).toBe(0);
    expect(demo.output.match(/^PASS /gm)).toHaveLength(5);
    expect(demo.output).not.toMatch(/^FAIL /m);
    expect(demo.output).toMatch(/All 5 steps behaved as expected/);
  }, 60_000);

  it("npm start runs a server and the service until Ctrl-C, then shuts both down", async () => {
    const local = launch("local.js", { NATS_PORT: "0" });
    try {
      await local.waitForOutput(/NATS URL\s+nats:\/\/127\.0\.0\.1:\d+/, 20_000);
      const url = /NATS URL\s+(nats:\/\/\S+)/.exec(local.output)?.[1] as string;
      expect(local.output).toMatch(/alice\/alice, bob\/bob, sys\/sys/);
      const nc = await connect({ servers: url, user: "alice", pass: "alice", reconnect: false });
      await nc.flush();
      await nc.close();
    } finally {
      void local.stop("SIGINT");
    }
    expect((await local.exited).code).toBe(0);
    expect(local.output).toMatch(/stopped\./);
  }, 60_000);
});
