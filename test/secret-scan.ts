import { resetSecretScan, scanLogsForSecrets } from "@natsflow/testing";
import { afterAll, beforeAll } from "vitest";

// Every test file: no log it produced (natsflow loggers, nats-server, child processes) may contain
// an nkey seed or a secret the file registered.
beforeAll(() => resetSecretScan());

afterAll(() => {
  const findings = scanLogsForSecrets();
  if (findings.length > 0) {
    throw new Error(`secrets found in logs:\n${findings.slice(0, 10).map((f) => `  ${f.what} in ${f.sink}: ${f.line.slice(0, 300)}`).join("\n")}`);
  }
});
