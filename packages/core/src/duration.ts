import { SetupError } from "./errors.js";

/** Milliseconds, or a string like "500ms", "30s", "2m", "1h", "7d". */
export type Duration = number | string;

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const PATTERN = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;

export function parseDuration(setting: string, value: Duration): number {
  if (typeof value === "number" && Number.isFinite(value) && value >= 0) return value;
  const m = typeof value === "string" ? PATTERN.exec(value.trim()) : null;
  if (!m) throw new SetupError(setting, `must be milliseconds ≥ 0 or a duration like "30s", "2m", "7d"; got ${JSON.stringify(value)}.`);
  return Math.round(Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS]);
}

/** Milliseconds as the largest unit they are a whole number of ("2h", "90m", "1500ms"): a duration shown as one would declare it. */
export function formatDuration(ms: number): string {
  for (const unit of ["d", "h", "m", "s"] as const) {
    if (ms > 0 && ms % UNIT_MS[unit] === 0) return `${ms / UNIT_MS[unit]}${unit}`;
  }
  return `${ms}ms`;
}
