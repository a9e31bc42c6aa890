/**
 * A suite-wide check that no secret reaches a log: every log a test captures (natsflow loggers,
 * nats-server output, child processes) is registered here, secrets the tests use are registered
 * too, and `scanLogsForSecrets()` looks through all of it for them and for any nkey seed.
 */
const NKEY_SEED = /S[A-Z2-7]{57}/;
const NKEY_SEEDS = /S[A-Z2-7]{57}/g;

interface Registry {
  sinks: Array<{ name: string; read: () => string }>;
  secrets: Set<string>;
}

// On globalThis so every copy of this module in a test worker shares one registry.
const registry: Registry = ((globalThis as { __natsflowSecretScan?: Registry }).__natsflowSecretScan ??= { sinks: [], secrets: new Set() });

/** A password, token or JWT a test uses: it must never appear in a log. Short strings are ignored. */
export function registerSecret(secret: string | undefined): void {
  if (secret && secret.length >= 6) registry.secrets.add(secret);
}

export function registerLogSink(name: string, read: () => string): void {
  registry.sinks.push({ name, read });
}

export interface SecretFinding {
  sink: string;
  what: string;
  line: string;
}

/** The line as a finding may show it: every seed and registered secret masked. */
function mask(line: string): string {
  let out = line.replace(NKEY_SEEDS, (seed) => `${seed.slice(0, 4)}…`);
  for (const secret of registry.secrets) out = out.split(secret).join("[secret]");
  return out;
}

export function scanLogsForSecrets(): SecretFinding[] {
  const findings: SecretFinding[] = [];
  for (const sink of registry.sinks) {
    for (const line of sink.read().split("\n")) {
      if (NKEY_SEED.test(line)) findings.push({ sink: sink.name, what: "an nkey seed", line: mask(line) });
      for (const secret of registry.secrets) {
        if (line.includes(secret)) findings.push({ sink: sink.name, what: `a registered secret (${secret.slice(0, 3)}…)`, line: mask(line) });
      }
    }
  }
  return findings;
}

/** Forget what was registered (between test files). */
export function resetSecretScan(): void {
  registry.sinks.length = 0;
  registry.secrets.clear();
}
