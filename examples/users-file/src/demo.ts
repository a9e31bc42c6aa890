// `npm run demo`: the embedded default, then the five scripted outcomes; exits 0 only if all hold.
import "reflect-metadata";

import { createLogger } from "@natsflow/core";

import { startLocalStack } from "./local-stack.js";
import { runWalkthrough } from "./walkthrough.js";

const stack = await startLocalStack({ logger: createLogger({ level: process.env.LOG_LEVEL ?? "warn" }) });
console.log(`nats-server at ${stack.server.url}, auth callout service running (xkey on)\n`);
let failed = 0;
try {
  const results = await runWalkthrough(stack.server.url, (r) => {
    console.log(`${r.ok ? "PASS" : "FAIL"}  ${r.step}\n      expected: ${r.expected}\n      got:      ${r.detail}\n`);
  });
  failed = results.filter((r) => !r.ok).length;
  console.log(failed === 0 ? "All 5 steps behaved as expected." : `${failed} step(s) did not behave as expected.`);
} finally {
  await stack.stop();
}
process.exit(failed === 0 ? 0 : 1);
