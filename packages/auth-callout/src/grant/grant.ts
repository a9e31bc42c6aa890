import type { ConnectionType, TimeRange } from "@nats-io/jwt";
import { isValidSubjectFilter } from "@natsflow/core";

import { GrantExpiredError, InvalidGrantError } from "../errors.js";

export type { ConnectionType, TimeRange } from "@nats-io/jwt";

export interface SubjectPermission {
  allow?: string[];
  deny?: string[];
}

export interface Permissions {
  /** Subjects the client may publish to. */
  pub?: SubjectPermission;
  /** Subjects the client may subscribe to. */
  sub?: SubjectPermission;
  /** Lets the client answer requests it received: `max` replies per request, within `ttl` nanoseconds. */
  resp?: { max?: number; ttl?: number };
}

export interface UserLimits {
  /** Max subscriptions, bytes, and bytes per message; -1 (the default) is unlimited. */
  subs?: number;
  data?: number;
  payload?: number;
  /** Source networks (CIDRs) the client may connect from. */
  src?: string[];
  /** Daily windows (`"08:00:00"`–`"17:00:00"`) the client may be connected in, in `locale`'s time zone. */
  times?: TimeRange[];
  locale?: string;
}

/** What an authorizer returns to admit a client. Everything the user JWT says comes from here. */
export interface Grant {
  /** The account the client joins (its name in config mode, e.g. "APP"). */
  account: string;
  /** The connection's user name in the server's logs and monitoring; defaults to the presented username. */
  name?: string;
  permissions?: Permissions;
  limits?: UserLimits;
  allowedConnectionTypes?: ConnectionType[];
  /** When the server disconnects the client; give at most one of the two. */
  expiresAt?: Date;
  expiresInSeconds?: number;
  tags?: string[];
}

const CONNECTION_TYPES: ReadonlySet<string> = new Set<ConnectionType>([
  "STANDARD",
  "WEBSOCKET",
  "LEAFNODE",
  "LEAFNODE_WS",
  "MQTT",
  "MQTT_WS",
  "IN_PROCESS",
]);

function fail(problem: string): never {
  throw new InvalidGrantError(`invalid grant: ${problem}`);
}

function checkSubjects(where: string, list: unknown): void {
  if (list === undefined) return;
  if (!Array.isArray(list)) fail(`${where} must be an array of subjects`);
  for (const s of list) if (!isValidSubjectFilter(s as string)) fail(`${where} has an invalid subject ${JSON.stringify(s)}`);
}

function checkLimit(where: string, value: unknown): void {
  if (value === undefined) return;
  if (typeof value !== "number" || !Number.isInteger(value) || value < -1) fail(`${where} must be an integer ≥ -1`);
}

const TIME = /^([01]\d|2[0-3]):[0-5]\d:[0-5]\d$/;

/** The expiry as JWT seconds, or undefined. Throws when the grant is unusable. */
export function validateGrant(grant: unknown, nowMs: number): { exp: number | undefined } {
  if (grant === null || typeof grant !== "object") fail(`the authorizer returned ${grant === null ? "null" : typeof grant}`);
  const g = grant as Grant;
  if (typeof g.account !== "string" || g.account.trim() === "" || /\s/.test(g.account)) fail("account must be a non-empty name without spaces");
  if (g.name !== undefined && typeof g.name !== "string") fail("name must be a string");
  const p = g.permissions;
  if (p !== undefined) {
    if (p === null || typeof p !== "object") fail("permissions must be an object");
    for (const dir of ["pub", "sub"] as const) {
      checkSubjects(`permissions.${dir}.allow`, p[dir]?.allow);
      checkSubjects(`permissions.${dir}.deny`, p[dir]?.deny);
    }
    if (p.resp !== undefined) {
      if (p.resp.max !== undefined && (!Number.isInteger(p.resp.max) || p.resp.max < -1)) fail("permissions.resp.max must be an integer ≥ -1");
      if (p.resp.ttl !== undefined && (!Number.isInteger(p.resp.ttl) || p.resp.ttl < 0)) fail("permissions.resp.ttl must be nanoseconds ≥ 0");
    }
  }
  const l = g.limits;
  if (l !== undefined) {
    checkLimit("limits.subs", l.subs);
    checkLimit("limits.data", l.data);
    checkLimit("limits.payload", l.payload);
    if (l.src !== undefined && (!Array.isArray(l.src) || l.src.some((c) => typeof c !== "string" || !c.includes("/")))) {
      fail("limits.src must be CIDRs like 10.0.0.0/8");
    }
    if (l.times !== undefined && (!Array.isArray(l.times) || l.times.some((t) => !TIME.test(t.start ?? "") || !TIME.test(t.end ?? "")))) {
      fail('limits.times must be ranges like { start: "08:00:00", end: "17:00:00" }');
    }
  }
  if (g.allowedConnectionTypes !== undefined) {
    if (!Array.isArray(g.allowedConnectionTypes) || g.allowedConnectionTypes.some((t) => !CONNECTION_TYPES.has(t))) {
      fail(`allowedConnectionTypes must be among ${[...CONNECTION_TYPES].join(", ")}`);
    }
  }
  if (g.tags !== undefined && (!Array.isArray(g.tags) || g.tags.some((t) => typeof t !== "string"))) fail("tags must be strings");
  if (g.expiresAt !== undefined && g.expiresInSeconds !== undefined) fail("give expiresAt or expiresInSeconds, not both");
  let expMs: number | undefined;
  if (g.expiresAt !== undefined) {
    if (!(g.expiresAt instanceof Date) || Number.isNaN(g.expiresAt.getTime())) fail("expiresAt must be a valid Date");
    expMs = g.expiresAt.getTime();
  } else if (g.expiresInSeconds !== undefined) {
    if (typeof g.expiresInSeconds !== "number" || !(g.expiresInSeconds > 0)) fail("expiresInSeconds must be > 0");
    expMs = nowMs + g.expiresInSeconds * 1000;
  }
  if (expMs === undefined) return { exp: undefined };
  // JWT times are whole seconds and the server allows no clock skew: an expiry that rounds to now is already past.
  const exp = Math.floor(expMs / 1000);
  if (exp <= Math.floor(nowMs / 1000)) throw new GrantExpiredError("grant expired before it was issued");
  return { exp };
}
