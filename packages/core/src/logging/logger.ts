import { pino, type DestinationStream, type Logger, type LoggerOptions } from "pino";

export type { Logger } from "pino";

/**
 * Secrets that may sit in objects a handler logs. natsflow itself never logs them; this is the
 * safety net for user code (`ctx.logger.info({ connect_opts })` stays safe).
 */
export const REDACTED_PATHS = [
  "pass",
  "password",
  "token",
  "auth_token",
  "seed",
  "jwt",
  "sig",
  "creds",
  "*.pass",
  "*.password",
  "*.token",
  "*.auth_token",
  "*.seed",
  "*.jwt",
  "*.sig",
  "*.creds",
];

export function createLogger(options: LoggerOptions = {}, destination?: DestinationStream): Logger {
  const merged: LoggerOptions = {
    name: "natsflow",
    level: process.env.LOG_LEVEL ?? "info",
    redact: { paths: REDACTED_PATHS, censor: "[redacted]" },
    ...options,
  };
  return destination ? pino(merged, destination) : pino(merged);
}
