// `npm run demo` and `npm start` as a newcomer runs them: real processes, real server, real clients.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

import { registerLogSink } from "@natsflow/testing";
import { connect } from "nats";
import { describe, expect, it } from "vitest";

const dist = (file: string) => fileURLToPath(new URL(`../dist/${file}`, import.meta.url));

function launch(file: string, env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [dist(file)], { env: { ...process.env, LOG_LEVEL: "warn", ...env }, stdio: ["ignore", "pipe", "pipe"] });
  const out = { text: "" };
  child.stdout.on("data", (d: Buffer) => (out.text += d.toString()));
  child.stderr.on("data", (d: Buffer) => (out.text += d.toString()));
  const exited = new Promise<number | null>((r) => child.once("exit", r));
  registerLogSink(`process ${file}`, () => out.text);
  return { child, out, exited };
}

describe("first run", () => {
  it("npm run demo prints the five expected outcomes and exits 0", async () => {
    const { out, exited } = launch("demo.js");
    expect(await exited).toBe(0);
    expect(out.text.match(/^PASS /gm)).toHaveLength(5);
    expect(out.text).not.toMatch(/^FAIL /m);
    expect(out.text).toMatch(/All 5 steps behaved as expected/);
  }, 60_000);

  it("npm start runs a server and the service until Ctrl-C, then shuts both down", async () => {
    const { child, out, exited } = launch("local.js", { NATS_PORT: "0" });
    try {
      await expect.poll(() => out.text, { timeout: 20_000 }).toMatch(/NATS URL\s+nats:\/\/127\.0\.0\.1:\d+/);
      const url = /NATS URL\s+(nats:\/\/\S+)/.exec(out.text)?.[1] as string;
      expect(out.text).toMatch(/alice\/alice, bob\/bob, sys\/sys/);
      const nc = await connect({ servers: url, user: "alice", pass: "alice", reconnect: false });
      await nc.flush();
      await nc.close();
    } finally {
      child.kill("SIGINT");
    }
    expect(await exited).toBe(0);
    expect(out.text).toMatch(/stopped\./);
  }, 60_000);
});
