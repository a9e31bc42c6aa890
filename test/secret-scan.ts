import { resetSecretScan, scanLogsForSecrets } from "@natsflow/testing";
import { afterAll } from "vitest";

// Every test file: no log it produced (natsflow loggers, nats-server, child processes) may contain
// an nkey seed or a secret the file registered. Registrations made while the file loads count too,
// so the registry is cleared after the scan, ready for the worker's next file.
afterAll(() => {
  const findings = scanLogsForSecrets();
  resetSecretScan();
  if (findings.length > 0) {
    throw new Error(`secrets found in logs:\n${findings.slice(0, 10).map((f) => `  ${f.what} in ${f.sink}: ${f.line.slice(0, 300)}`).join("\n")}`);
  }
});
