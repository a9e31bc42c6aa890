import { randomInt } from "node:crypto";

import { SetupError } from "../errors.js";
import type { EndpointStats } from "./endpoint-stats.js";

/**
 * The NATS micro services protocol (ADR-32): names, control subjects and the JSON answers that
 * `nats micro` and the services clients of the NATS libraries read.
 */

export interface ServiceOptions {
  /** The kind of service, shared by all its instances: letters, digits, `-` and `_`. */
  name: string;
  /** A semantic version, e.g. "1.4.0". */
  version: string;
  description?: string;
  /** Free-form strings sent with every ping, info and stats answer. */
  metadata?: Record<string, string>;
}

export interface ResolvedService {
  readonly name: string;
  readonly version: string;
  readonly description: string;
  readonly metadata: Readonly<Record<string, string>>;
}

/** One request handler as discovery shows it. */
export interface EndpointInfo {
  readonly name: string;
  readonly subject: string;
  /** "" when the subscription has no queue group. */
  readonly queue_group: string;
  readonly metadata: Readonly<Record<string, string>>;
}

export const MICRO_NAME = /^[A-Za-z0-9_-]+$/;
// The regular expression semver.org suggests, which ADR-32 asks for.
export const SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;

export const VERBS = ["PING", "INFO", "STATS"] as const;
export type Verb = (typeof VERBS)[number];

const TYPES: Record<Verb, string> = {
  PING: "io.nats.micro.v1.ping_response",
  INFO: "io.nats.micro.v1.info_response",
  STATS: "io.nats.micro.v1.stats_response",
};

/** A string-to-string record, copied and frozen; `{}` when absent. */
export function checkMetadata(setting: string, value: unknown): Readonly<Record<string, string>> {
  if (value === undefined) return Object.freeze({});
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new SetupError(setting, "must be an object of strings.", 'e.g. { region: "eu-west" }.');
  }
  const bad = Object.entries(value).find(([, v]) => typeof v !== "string");
  if (bad) throw new SetupError(`${setting}.${bad[0]}`, `must be a string, got ${typeof bad[1]}.`, `write it as a string, e.g. String(value).`);
  return Object.freeze({ ...(value as Record<string, string>) });
}

/** `Class.method` made a valid endpoint name: `Class-method`. */
export function endpointName(handler: string): string {
  return handler.replace(/[^A-Za-z0-9_-]/g, "-");
}

/** The three subjects a service answers a verb on: everyone's, its name's, and its own instance's. */
export function controlSubjects(verb: Verb, name: string, id: string): string[] {
  return [`$SRV.${verb}`, `$SRV.${verb}.${name}`, `$SRV.${verb}.${name}.${id}`];
}

const NUID_DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/** An instance id shaped like the NATS libraries' nuids: 22 random base-62 digits. */
export function newServiceId(): string {
  let id = "";
  for (let i = 0; i < 22; i++) id += NUID_DIGITS[randomInt(NUID_DIGITS.length)];
  return id;
}

export interface ServiceInstance {
  readonly service: ResolvedService;
  readonly id: string;
  /** ISO time the instance started answering. */
  readonly started: string;
  readonly endpoints: ReadonlyArray<{ readonly info: EndpointInfo; readonly stats: EndpointStats }>;
}

function identity(verb: Verb, { service, id }: ServiceInstance) {
  return { type: TYPES[verb], name: service.name, id, version: service.version, metadata: service.metadata };
}

export function pingResponse(instance: ServiceInstance): object {
  return identity("PING", instance);
}

export function infoResponse(instance: ServiceInstance): object {
  return { ...identity("INFO", instance), description: instance.service.description, endpoints: instance.endpoints.map((e) => e.info) };
}

export function statsResponse(instance: ServiceInstance): object {
  const endpoints = instance.endpoints.map(({ info, stats }) => {
    // Whole nanoseconds: Go clients decode these as durations (int64).
    const total = Math.round(stats.processingMs * 1e6);
    return {
      name: info.name,
      subject: info.subject,
      queue_group: info.queue_group,
      num_requests: stats.requests,
      num_errors: stats.errors,
      last_error: stats.lastError,
      processing_time: total,
      average_processing_time: stats.requests > 0 ? Math.trunc(total / stats.requests) : 0,
    };
  });
  return { ...identity("STATS", instance), started: instance.started, endpoints };
}
