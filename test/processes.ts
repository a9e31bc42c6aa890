import { processesLeftRunning, ProcessLeftRunningError } from "@natsflow/testing";
import { afterAll } from "vitest";

// Every test file: each process it started (services, CLIs, nats-servers) must have exited by the end
// of the file. One still running is killed and fails the file: a service that never exits is a defect.
afterAll(async () => {
  const left = await processesLeftRunning();
  if (left.length > 0) throw new ProcessLeftRunningError(`processes left running after this file:\n  ${left.join("\n  ")}`);
});
