import { existsSync, readFileSync } from "node:fs";
import { inspect, parseEnv } from "node:util";

import { SetupError } from "../errors.js";
import { isStandardSchema, validate, type StandardSchemaV1 } from "../validation/standard-schema.js";
import type { Environment } from "./connection-options.js";

export interface SettingsOptions {
  /** Where the variables come from. Default `process.env`. */
  env?: Record<string, string | undefined>;
  /**
   * A dotenv file for the variables the environment does not set (the environment wins). Default
   * `.env` in the working directory when there is one; a path given here must exist; `false` reads none.
   * Its variables are added to `env`, so `NatsApp` reads `NATS_URL` & co. from it too.
   */
  envFile?: string | false;
  /**
   * Settings whose values are secrets, by name: shown as `[redacted]` when the settings are logged
   * or inspected, and never quoted in an error. By default every name containing PASS, SECRET,
   * TOKEN, SEED, CREDS, KEY or PRIVATE; a URL's password is always hidden.
   */
  secrets?: readonly string[];
}

const SECRET_NAME = /PASS|SECRET|TOKEN|SEED|CREDS|KEY|PRIVATE/i;
const URL_PASSWORD = /(\w+:\/\/[^:/@\s]+:)[^@\s]+@/g;
const REDACTED = "[redacted]";

/**
 * The app's own settings, typed by a Standard Schema (zod, valibot, arktype, …) over the environment
 * and an optional `.env` file: `{ DATABASE_URL: string, PORT: number, … }` as the schema outputs them.
 * A variable the schema refuses fails with a `SetupError` naming it. The result is frozen, and logs
 * (`JSON.stringify`, pino, `console.log`) show secrets as `[redacted]`.
 */
export async function loadSettings<S extends StandardSchemaV1>(schema: S, options: SettingsOptions = {}): Promise<Readonly<StandardSchemaV1.InferOutput<S>>> {
  if (!isStandardSchema(schema)) throw new SetupError("loadSettings schema", "is not a Standard Schema.", "pass a zod, valibot or arktype object schema of the variables.");
  const env = options.env ?? process.env;
  readEnvFile(env, options.envFile);
  const isSecret = (name: string) => (options.secrets ? options.secrets.includes(name) : SECRET_NAME.test(name));
  const variables: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) if (value !== undefined) variables[name] = value;
  const settings = await validate(schema, variables, (issues) => {
    const [first, ...more] = issues.map((i) => ({ name: i.path.split(".")[0] || "settings", message: hide(i.message, i.path.split(".")[0] ?? "", env, isSecret) }));
    const { name, message } = first as { name: string; message: string };
    const rest = more.length > 0 ? ` (also ${more.map((m) => `${m.name}: ${m.message}`).join("; ")})` : "";
    return new SetupError(name, `${message}${rest}`, `set ${name} in the environment${options.envFile === false ? "" : " or the .env file"}.`);
  });
  return redacted(settings, isSecret);
}

/** Adds the file's variables that `env` lacks. */
function readEnvFile(env: Record<string, string | undefined>, envFile: string | false | undefined): void {
  if (envFile === false) return;
  const path = envFile ?? ".env";
  if (envFile === undefined && !existsSync(path)) return;
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new SetupError("envFile", `cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}).`, "give the path of a dotenv file, or leave envFile out.", { cause: e });
  }
  for (const [name, value] of Object.entries(parseEnv(text))) if (env[name] === undefined) env[name] = value;
}

/** An issue's message without the value of a secret variable, nor any URL's password. */
function hide(message: string, name: string, env: Environment, isSecret: (name: string) => boolean): string {
  const value = env[name];
  const shown = value && isSecret(name) ? message.split(value).join(REDACTED) : message;
  return shown.replace(URL_PASSWORD, `$1${REDACTED}@`);
}

/** Frozen, and shown with secrets redacted wherever it is logged or inspected. */
function redacted<T>(settings: T, isSecret: (name: string) => boolean): Readonly<T> {
  if (settings === null || typeof settings !== "object") return settings;
  const shown = () =>
    Object.fromEntries(
      Object.entries(settings).map(([k, v]) => [k, isSecret(k) && v !== undefined ? REDACTED : typeof v === "string" ? v.replace(URL_PASSWORD, `$1${REDACTED}@`) : v]),
    );
  Object.defineProperties(settings, {
    toJSON: { value: shown, enumerable: false },
    [inspect.custom]: { value: () => shown(), enumerable: false },
  });
  return Object.freeze(settings);
}
