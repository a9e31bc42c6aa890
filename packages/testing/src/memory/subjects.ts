import type { HeadersInit, MessageHeaders } from "@natsflow/core";

export class Headers implements MessageHeaders {
  private readonly map = new Map<string, string[]>();
  constructor(init: HeadersInit) {
    for (const [k, v] of Object.entries(init)) this.map.set(k, typeof v === "string" ? [v] : [...v]);
  }
  get(name: string): string | undefined {
    return this.map.get(name)?.[0];
  }
  values(name: string): string[] {
    return this.map.get(name) ?? [];
  }
  has(name: string): boolean {
    return this.map.has(name);
  }
  keys(): string[] {
    return [...this.map.keys()];
  }
}

/** NATS subject matching: `*` is one token, `>` one or more trailing tokens. */
export function subjectMatches(filter: string, subject: string): boolean {
  const f = filter.split(".");
  const s = subject.split(".");
  for (let i = 0; i < f.length; i++) {
    if (f[i] === ">") return s.length > i;
    if (i >= s.length) return false;
    if (f[i] !== "*" && f[i] !== s[i]) return false;
  }
  return f.length === s.length;
}
