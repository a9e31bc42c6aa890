import { newAccountKey, registerLogSink, registerSecret, resetSecretScan, scanLogsForSecrets } from "@natsflow/testing";
import { describe, expect, it } from "vitest";

describe("the suite-wide secret scan", () => {
  it("finds nkey seeds and registered secrets in any registered log, and names where", () => {
    const seed = newAccountKey().seed;
    registerSecret("hunter2-password");
    registerLogSink("planted", () => `{"msg":"ok"}\n{"msg":"oops","seed":"${seed}"}\nlogin with hunter2-password\nboth ${seed} hunter2-password\n`);
    const findings = scanLogsForSecrets();
    expect(findings.map((f) => [f.sink, f.what])).toEqual([
      ["planted", "an nkey seed"],
      ["planted", "a registered secret (hun…)"],
      ["planted", "an nkey seed"],
      ["planted", "a registered secret (hun…)"],
    ]);
    // Findings never repeat the secret itself.
    expect(JSON.stringify(findings)).not.toContain(seed);
    expect(JSON.stringify(findings)).not.toContain("hunter2-password");
    resetSecretScan();
    expect(scanLogsForSecrets()).toEqual([]);
  });
});
