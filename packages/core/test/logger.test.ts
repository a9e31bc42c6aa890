import { fileURLToPath } from "node:url";

import { createLogger, REDACTED_KEYS } from "@natsflow/core";
import { spawnTracked } from "@natsflow/testing";
import { describe, expect, it } from "vitest";

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger({ level: "info" }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines };
}

describe("logger", () => {
  it("redacts secret fields at the top level and one level down, without touching the logged object", () => {
    const { logger, lines } = capture();
    const connectOpts = { user: "alice", pass: "hunter2", auth_token: "t0k", name: "app" };
    const logged = { connect_opts: connectOpts, seed: "SUAB", list: [{ pass: "in-array" }], user: "alice" };
    logger.info(logged, "connect");
    expect(lines[0]).toMatchObject({ connect_opts: { user: "alice", pass: "[redacted]", auth_token: "[redacted]", name: "app" }, seed: "[redacted]", user: "alice", msg: "connect" });
    expect(connectOpts.pass).toBe("hunter2");
    expect(logged.seed).toBe("SUAB");
    for (const key of REDACTED_KEYS) {
      logger.info({ [key]: "secret-value", nested: { [key]: "secret-value" } }, key);
    }
    expect(JSON.stringify(lines.slice(1))).not.toContain("secret-value");
  });

  it("keeps errors and objects without secrets as they are", () => {
    const { logger, lines } = capture();
    logger.error({ err: new Error("boom"), client: { host: "127.0.0.1", id: 7 } }, "failed");
    expect(lines[0]).toMatchObject({ err: { message: "boom", type: "Error" }, client: { host: "127.0.0.1", id: 7 } });
  });

  it("writes every line to stdout, in order, even when the process exits right after logging", async () => {
    const core = fileURLToPath(new URL("../dist/index.js", import.meta.url));
    const script = `import { createLogger } from ${JSON.stringify(core)}; const l = createLogger(); for (let i = 0; i < 2000; i++) l.info({ i }, "line"); process.exit(0);`;
    const child = spawnTracked(process.execPath, ["--input-type=module", "-e", script], { label: "logger exit test" });
    expect((await child.exited).code).toBe(0);
    const numbers = child.output.trim().split("\n").map((l) => (JSON.parse(l) as { i: number }).i);
    expect(numbers).toEqual(Array.from({ length: 2000 }, (_, i) => i));
  });

  it("LOG_FORMAT=pretty writes lines for a person (an error's stack indented below); another value fails naming it", async () => {
    const core = fileURLToPath(new URL("../dist/index.js", import.meta.url));
    const script = `import { createLogger } from ${JSON.stringify(core)}; const l = createLogger({ name: "svc" }); l.info({ n: 1, pass: "hunter2" }, "ready"); l.error({ err: new Error("boom") }, "failed");`;
    const child = spawnTracked(process.execPath, ["--input-type=module", "-e", script], { label: "pretty logger", env: { ...process.env, LOG_FORMAT: "pretty", NO_COLOR: "1" } });
    expect((await child.exited).code).toBe(0);
    const lines = child.output.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO  \[svc\] ready n=1 pass=\[redacted\]$/);
    expect(lines[1]).toMatch(/^\d\d:\d\d:\d\d\.\d{3} ERROR \[svc\] failed$/);
    expect(lines[2]).toBe("    Error: boom");
    expect(lines[3]).toMatch(/^ {4}\s*at /);
    const saved = process.env.LOG_FORMAT;
    process.env.LOG_FORMAT = "yaml";
    try {
      expect(() => createLogger()).toThrow(/^LOG_FORMAT: must be json or pretty, got "yaml"\./);
    } finally {
      if (saved === undefined) delete process.env.LOG_FORMAT;
      else process.env.LOG_FORMAT = saved;
    }
  });
});
