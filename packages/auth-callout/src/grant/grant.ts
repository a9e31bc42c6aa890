import { isIP } from "node:net";

import type { ConnectionType, TimeRange } from "@nats-io/jwt";
import { isValidSubjectFilter } from "@natsflow/core";

import { GrantExpiredError, InvalidGrantError } from "../errors.js";

export type { ConnectionType, TimeRange } from "@nats-io/jwt";

/** Subjects allowed and denied in one direction. An empty `allow` is refused: nats-server reads it as no restriction. */
export interface SubjectPermission {
  allow?: string[];
  deny?: string[];
}

/** Lets the client answer requests it received: `max` replies per request (default 1), within `ttl` nanoseconds (0: the server's default). */
export interface ResponsePermission {
  max?: number;
  ttl?: number;
}

/** What the client may do. Both directions are required: "no restriction" is spelled out, as `{ allow: [">"] }`. */
export interface Permissions {
  /** Subjects the client may publish to. */
  pub: SubjectPermission;
  /** Subjects the client may subscribe to. */
  sub: SubjectPermission;
  resp?: ResponsePermission;
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
  /**
   * Required, unless the account signs with a scoped key (whose template sets them; then leave them
   * out). `"all"` is the one spelling of "no restriction at all".
   */
  permissions?: Permissions | "all";
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

const GRANT_KEYS = ["account", "name", "permissions", "limits", "allowedConnectionTypes", "expiresAt", "expiresInSeconds", "tags"] as const;
const LIMIT_KEYS = ["subs", "data", "payload", "src", "times", "locale"] as const;
const TIME = /^([01]\d|2[0-3]):[0-5]\d:[0-5]\d$/;
const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;
const ALLOW_ALL_HINT = 'allow: [">"] allows every subject';

/** `path: problem`, as an `InvalidGrantError`: the path names the key the author got wrong. */
function fail(path: string, problem: string): never {
  throw new InvalidGrantError(`invalid grant: ${path ? `${path}: ` : ""}${problem}`);
}

/** A JSON-like object: no array, Date, Map or class instance where a nested record belongs. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== "object") return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

function kind(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (typeof value !== "object") return `a ${typeof value}`;
  if (Array.isArray(value)) return "an array";
  return isPlainObject(value) ? "an object" : `a ${Object.prototype.toString.call(value).slice(8, -1)}`;
}

/** A value quoted for a message: escaped, and short. */
function quote(value: string): string {
  return JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}…` : value);
}

function at(path: string, key: string | number): string {
  if (typeof key === "number") return `${path}[${key}]`;
  if (!IDENTIFIER.test(key)) return `${path}[${quote(key)}]`;
  return path ? `${path}.${key}` : key;
}

function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min((row[j] as number) + 1, (next[j - 1] as number) + 1, (row[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length] as number;
}

/** The key the author probably meant: `publish` → `pub`, `max_subs` → `subs`, `Pub` → `pub`, `alow` → `allow`, `denied` → `deny`. */
function suggest(key: string, known: readonly string[]): string | undefined {
  const k = key.toLowerCase();
  if (k.length < 2 || k.length > 40) return undefined;
  const lower = known.map((c) => [c, c.toLowerCase()] as const);
  const byPrefix = k.length >= 3 ? lower.find(([, c]) => c.startsWith(k) || k.startsWith(c) || k.endsWith(c)) : undefined;
  if (byPrefix) return byPrefix[0];
  const [closest] = lower.map(([c, l]) => [c, editDistance(k, l)] as const).sort((x, y) => x[1] - y[1]);
  // Short keys are a letter or two from everything: allow fewer edits there.
  if (closest && closest[1] <= Math.min(2, Math.floor(k.length / 3))) return closest[0];
  return lower.find(([, c]) => k.length >= 3 && c.startsWith(k.slice(0, 3)))?.[0];
}

/** A record with only `known` keys, or a refusal naming the first stray one. */
function record(path: string, value: unknown, known: readonly string[], shape: string): Record<string, unknown> {
  if (!isPlainObject(value)) fail(path, `must be ${shape}, not ${kind(value)}`);
  for (const key of Object.keys(value)) {
    if (known.includes(key)) continue;
    const guess = suggest(key, known);
    fail(at(path, key), guess ? `unknown key; did you mean "${guess}"?` : `unknown key (known: ${known.join(", ")})`);
  }
  return value;
}

/** A list where an empty one would read, to nats-server, as "no restriction". */
function restrictingList(path: string, value: unknown, what: string): unknown[] {
  if (!Array.isArray(value)) fail(path, `must be an array of ${what}, not ${kind(value)}`);
  if (value.length === 0) fail(path, "empty, which nats-server reads as no restriction; leave it out");
  return value;
}

function integer(path: string, value: unknown, min: number, what: string): void {
  if (value !== undefined && (typeof value !== "number" || !Number.isSafeInteger(value) || value < min)) fail(path, `must be ${what}, not ${typeof value === "number" ? value : kind(value)}`);
}

function subjects(path: string, value: unknown): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) fail(path, `must be an array of subjects, not ${kind(value)}`);
  // An index loop, not forEach: holes are undefined entries too.
  for (let i = 0; i < value.length; i++) {
    const s: unknown = value[i];
    if (typeof s !== "string") fail(at(path, i), `must be a subject, not ${kind(s)}`);
    if (!isValidSubjectFilter(s)) fail(at(path, i), `invalid subject ${quote(s)}`);
  }
  return value as string[];
}

function direction(path: string, value: unknown): void {
  if (value === undefined) fail(path, `missing; give { allow, deny } (${ALLOW_ALL_HINT})`);
  const d = record(path, value, ["allow", "deny"], "{ allow, deny }");
  const allow = subjects(at(path, "allow"), d.allow);
  const deny = subjects(at(path, "deny"), d.deny);
  if (allow?.length === 0) fail(at(path, "allow"), `empty, which nats-server reads as no restriction; deny: [">"] allows nothing, ${ALLOW_ALL_HINT}`);
  if (!allow && !deny?.length) fail(path, `restricts nothing; list allow or deny subjects (${ALLOW_ALL_HINT})`);
}

/**
 * Checks permissions as a grant or a stored user record carries them, and throws an
 * `InvalidGrantError` naming the first bad key (`permissions.publish: unknown key; did you mean
 * "pub"?`). Accepted: `"all"`, or `{ pub, sub, resp? }` where each direction is `{ allow?, deny? }`
 * with valid subject filters and restricts something. Nothing else: no unknown keys at any level, no
 * empty `allow`, no absent direction.
 */
export function validatePermissions(permissions: unknown): asserts permissions is Permissions | "all" {
  if (permissions === "all") return;
  if (permissions === undefined) fail("permissions", 'missing; give { pub, sub }, or "all" for no restriction');
  const p = record("permissions", permissions, ["pub", "sub", "resp"], '{ pub, sub, resp } or "all"');
  direction("permissions.pub", p.pub);
  direction("permissions.sub", p.sub);
  if (p.resp !== undefined) {
    const r = record("permissions.resp", p.resp, ["max", "ttl"], "{ max, ttl }");
    integer("permissions.resp.max", r.max, -1, "an integer ≥ -1");
    integer("permissions.resp.ttl", r.ttl, 0, "nanoseconds ≥ 0");
  }
}

function isCidr(value: unknown): boolean {
  if (typeof value !== "string") return false;
  const [net = "", bits = "", ...rest] = value.split("/");
  const family = isIP(net);
  return family !== 0 && rest.length === 0 && /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128);
}

function isTimeZone(value: unknown): boolean {
  if (typeof value !== "string" || value === "") return false;
  try {
    new Intl.DateTimeFormat("en", { timeZone: value });
    return true;
  } catch {
    return false;
  }
}

function checkLimits(value: unknown): void {
  const l = record("limits", value, LIMIT_KEYS, "{ subs, data, payload, src, times, locale }");
  for (const key of ["subs", "data", "payload"] as const) integer(`limits.${key}`, l[key], -1, "an integer ≥ -1 (-1: no limit)");
  if (l.src !== undefined) {
    restrictingList("limits.src", l.src, "CIDRs").forEach((cidr, i) => {
      if (!isCidr(cidr)) fail(at("limits.src", i), "must be a CIDR like 10.0.0.0/8");
    });
  }
  if (l.times !== undefined) {
    restrictingList("limits.times", l.times, "time ranges").forEach((range, i) => {
      const shape = '{ start: "08:00:00", end: "17:00:00" }';
      const t = record(at("limits.times", i), range, ["start", "end"], shape);
      if (typeof t.start !== "string" || !TIME.test(t.start) || typeof t.end !== "string" || !TIME.test(t.end)) fail(at("limits.times", i), `must be a range like ${shape}`);
    });
  }
  if (l.locale !== undefined && !isTimeZone(l.locale)) fail("limits.locale", "must be a time zone like Europe/Berlin");
}

/**
 * Everything about a grant but which key signs it: keys, types, subjects, limits, expiry. Permissions
 * may be absent here (a scoped key's template sets them); `checkSigner` decides. Returns the expiry
 * as JWT seconds, or undefined.
 */
export function checkGrantShape(grant: unknown, nowMs: number): { exp: number | undefined } {
  const g = record("", grant, GRANT_KEYS, "an object { account, permissions, … }");
  if (typeof g.account !== "string" || g.account.trim() === "" || /\s/.test(g.account)) fail("account", "must be a non-empty name without spaces");
  if (g.name !== undefined && typeof g.name !== "string") fail("name", `must be a string, not ${kind(g.name)}`);
  if (g.permissions !== undefined) validatePermissions(g.permissions);
  if (g.limits !== undefined) checkLimits(g.limits);
  if (g.allowedConnectionTypes !== undefined) {
    restrictingList("allowedConnectionTypes", g.allowedConnectionTypes, "connection types").forEach((t, i) => {
      if (typeof t !== "string" || !CONNECTION_TYPES.has(t)) fail(at("allowedConnectionTypes", i), `must be one of ${[...CONNECTION_TYPES].join(", ")}`);
    });
  }
  if (g.tags !== undefined && (!Array.isArray(g.tags) || g.tags.some((t) => typeof t !== "string"))) fail("tags", "must be an array of strings");
  if (g.expiresAt !== undefined && g.expiresInSeconds !== undefined) fail("", "give expiresAt or expiresInSeconds, not both");
  let expMs: number | undefined;
  if (g.expiresAt !== undefined) {
    if (!(g.expiresAt instanceof Date) || Number.isNaN(g.expiresAt.getTime())) fail("expiresAt", "must be a valid Date");
    expMs = g.expiresAt.getTime();
  } else if (g.expiresInSeconds !== undefined) {
    if (typeof g.expiresInSeconds !== "number" || !Number.isFinite(g.expiresInSeconds) || g.expiresInSeconds <= 0) fail("expiresInSeconds", "must be a number of seconds > 0");
    expMs = nowMs + g.expiresInSeconds * 1000;
  }
  if (expMs === undefined) return { exp: undefined };
  // JWT times are whole seconds and the server allows no clock skew: an expiry that rounds to now is already past.
  const exp = Math.floor(expMs / 1000);
  if (exp <= Math.floor(nowMs / 1000)) throw new GrantExpiredError("grant expired before it was issued");
  return { exp };
}

/** A scoped key's template sets permissions and limits, so its grants carry none; every other grant states its permissions. */
export function checkSigner(grant: Grant, scoped: boolean): void {
  if (!scoped) {
    if (grant.permissions === undefined) fail("permissions", 'missing; give { pub, sub }, or "all" for no restriction');
    return;
  }
  for (const key of ["permissions", "limits", "allowedConnectionTypes"] as const) {
    if (grant[key] !== undefined) {
      fail(key, `account "${grant.account}" signs with a scoped key, whose template sets permissions and limits; leave ${key} out of the grant`);
    }
  }
}

/**
 * The strict check a grant passes before anything is signed; throws an `InvalidGrantError` naming the
 * bad key (`invalid grant: permissions.pub.allow[0]: invalid subject "a..b"`). `scoped`: the account
 * signs with a scoped key, so the grant must leave permissions and limits out. Returns the expiry as
 * JWT seconds, or undefined.
 */
export function validateGrant(grant: unknown, nowMs = Date.now(), options: { scoped?: boolean } = {}): { exp: number | undefined } {
  const result = checkGrantShape(grant, nowMs);
  checkSigner(grant as Grant, options.scoped === true);
  return result;
}
