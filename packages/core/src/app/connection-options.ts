import { existsSync, readFileSync } from "node:fs";

import { SetupError } from "../errors.js";
import { isValidSubject } from "../subjects.js";
import type { ConnectionOptions } from "../transport/transport.js";
import { hasUrlCredentials } from "../transport/url-credentials.js";

/** Variables as `NatsApp` reads them: `process.env`, or what `NatsAppOptions.env` gives. */
export type Environment = Readonly<Record<string, string | undefined>>;

const DEFAULT_SERVER = "nats://127.0.0.1:4222";
const CREDENTIALS = ["user", "token", "creds", "nkeySeed"] as const;
const BOOLEANS = ["waitOnFirstConnect", "reconnect", "noRandomize", "ignoreClusterUpdates", "resolve", "noEcho", "ignoreAuthErrorAbort", "verbose", "pedantic", "noAsyncTraces"] as const;
const DURATIONS = ["connectTimeoutMs", "reconnectTimeWaitMs", "reconnectJitterMs", "reconnectJitterTlsMs", "pingIntervalMs"] as const;
const PASSED = ["name", "user", "pass", "token", "creds", "nkeySeed", "tls", "maxReconnectAttempts", "maxPingOut", "inboxPrefix", ...BOOLEANS, ...DURATIONS] as const;
// A user nkey seed: "SU" and 56 more base32 characters.
const USER_SEED = /^SU[A-Z2-7]{56}$/;
const CREDS_MARK = "-----BEGIN NATS USER JWT-----";

/**
 * The connection: what the options say, and for what they leave out, the conventional variables
 * (docs/configuration.md has the table). Explicit options win: code that sets `servers` ignores
 * `NATS_URL`, code that sets any credential ignores every credential variable, code that sets `tls`
 * ignores the TLS files. A variable that cannot work fails here, naming it; no value is echoed.
 */
export function resolveConnection(options: Partial<ConnectionOptions>, env: Environment): ConnectionOptions {
  checkExplicit(options);
  const from: Record<string, string> = {};
  let servers = options.servers;
  if (servers === undefined && present(env.NATS_URL)) {
    servers = env.NATS_URL.split(",").map((s) => s.trim());
    if (servers.some((s) => s === "")) throw new SetupError("NATS_URL", "must be a URL like nats://host:4222, or a comma-separated list of them.");
    from.servers = "NATS_URL";
  }
  servers ??= DEFAULT_SERVER;
  const connection: ConnectionOptions = { servers };
  for (const key of PASSED) if (options[key] !== undefined) Object.assign(connection, { [key]: options[key] });
  const urlCredentials = hasUrlCredentials(servers);
  if (!CREDENTIALS.some((k) => options[k] !== undefined)) {
    const found = credentialsFromEnv(env);
    if (found) {
      if (urlCredentials) {
        throw new SetupError(found.variable, `is set, but ${from.servers ?? "servers"} carries credentials in its URL too.`, "give the credentials in one place.");
      }
      Object.assign(connection, found.options);
      from.credentials = found.variable;
    }
  }
  if (options.tls === undefined) {
    const tls = tlsFromEnv(env);
    if (tls) {
      connection.tls = tls;
      from.tls = Object.keys(tls).map((k) => TLS_VARIABLES[k as keyof typeof TLS_VARIABLES]).join(", ");
    }
  }
  if (Object.keys(from).length > 0) connection.from = from;
  return connection;
}

function present(value: string | undefined): value is string {
  return value !== undefined && value !== "";
}

function checkExplicit(options: Partial<ConnectionOptions>): void {
  const { servers } = options;
  if (servers !== undefined) {
    const list = Array.isArray(servers) ? servers : [servers];
    if (list.length === 0 || list.some((s) => typeof s !== "string" || s.trim() === "")) {
      throw new SetupError("servers", "must be a URL like nats://host:4222, or a list of them.");
    }
  }
  for (const key of ["user", "pass", "token", "creds", "nkeySeed", "name", "inboxPrefix"] as const) {
    const value = options[key];
    if (value !== undefined && (typeof value !== "string" || value.length === 0)) throw new SetupError(key, "must be a non-empty string when given.");
  }
  const given = CREDENTIALS.filter((k) => options[k] !== undefined);
  if (given.length > 1) throw new SetupError(given[1] as string, `cannot be combined with ${given[0]}.`, "use one way to log in: user and pass, a token, a .creds file or an nkey seed.");
  if (options.creds !== undefined && !options.creds.includes(CREDS_MARK)) {
    throw new SetupError("creds", "is not the contents of a NATS .creds file.", "pass the file's text, e.g. readFileSync(path, 'utf8').");
  }
  if (options.nkeySeed !== undefined && !USER_SEED.test(options.nkeySeed)) throw new SetupError("nkeySeed", "is not a user nkey seed (SU…, 58 characters).");
  if (options.inboxPrefix !== undefined && !isValidSubject(options.inboxPrefix)) throw new SetupError("inboxPrefix", "must be a subject without wildcards, e.g. \"_INBOX_orders\".");
  for (const key of BOOLEANS) {
    if (options[key] !== undefined && typeof options[key] !== "boolean") throw new SetupError(key, "must be true or false.");
  }
  for (const key of DURATIONS) {
    const ms = options[key];
    if (ms !== undefined && (typeof ms !== "number" || !Number.isFinite(ms) || ms < 0)) throw new SetupError(key, "must be a number of milliseconds ≥ 0.");
  }
  const { maxReconnectAttempts, maxPingOut } = options;
  if (maxReconnectAttempts !== undefined && (!Number.isInteger(maxReconnectAttempts) || maxReconnectAttempts < -1)) {
    throw new SetupError("maxReconnectAttempts", "must be a whole number ≥ 0, or -1 for forever.");
  }
  if (maxPingOut !== undefined && (!Number.isInteger(maxPingOut) || maxPingOut < 1)) throw new SetupError("maxPingOut", "must be a whole number ≥ 1.");
}

/** One way of logging in from the variables, or none; two ways set at once is a mistake. */
function credentialsFromEnv(env: Environment): { variable: string; options: Partial<ConnectionOptions> } | undefined {
  const ways = (["NATS_CREDS", "NATS_NKEY_SEED", "NATS_NKEY", "NATS_TOKEN", "NATS_USER"] as const).filter((v) => present(env[v]));
  if (present(env.NATS_PASSWORD) && !ways.includes("NATS_USER")) throw new SetupError("NATS_PASSWORD", "is set without NATS_USER.", "set NATS_USER too, or unset NATS_PASSWORD.");
  if (ways.includes("NATS_USER") && !present(env.NATS_PASSWORD)) throw new SetupError("NATS_PASSWORD", "is missing: NATS_USER logs in with a password.", "set NATS_PASSWORD too, or unset NATS_USER.");
  if (ways.length > 1) throw new SetupError(ways[1] as string, `is set, and so is ${ways[0]}: which one logs in?`, "set one way to log in.");
  const [variable] = ways;
  switch (variable) {
    case undefined:
      return undefined;
    case "NATS_CREDS": {
      const creds = readVariableFile(variable, env[variable] as string, "a .creds file (nsc or `natsflow creds` writes one)");
      if (!creds.includes(CREDS_MARK)) throw new SetupError(variable, `${env[variable]} is not a NATS .creds file.`, "point it at a .creds file (user JWT and seed).");
      return { variable, options: { creds } };
    }
    case "NATS_NKEY_SEED":
    case "NATS_NKEY": {
      const seed = variable === "NATS_NKEY" ? readVariableFile(variable, env[variable] as string, "a file holding a user nkey seed").trim() : (env[variable] as string).trim();
      if (!USER_SEED.test(seed)) throw new SetupError(variable, `${variable === "NATS_NKEY" ? "holds" : "is"} not a user nkey seed (SU…, 58 characters).`);
      return { variable, options: { nkeySeed: seed } };
    }
    case "NATS_TOKEN":
      return { variable, options: { token: env.NATS_TOKEN as string } };
    case "NATS_USER":
      return { variable, options: { user: env.NATS_USER as string, pass: env.NATS_PASSWORD as string } };
  }
}

const TLS_VARIABLES = { caFile: "NATS_CA", certFile: "NATS_CERT", keyFile: "NATS_KEY" } as const;

function tlsFromEnv(env: Environment): ConnectionOptions["tls"] {
  const tls: Record<string, string> = {};
  for (const [option, variable] of Object.entries(TLS_VARIABLES)) {
    const path = env[variable];
    if (!present(path)) continue;
    if (!existsSync(path)) throw new SetupError(variable, `${path} does not exist.`, "point it at a PEM file.");
    tls[option] = path;
  }
  if ((tls.certFile === undefined) !== (tls.keyFile === undefined)) {
    throw new SetupError(tls.certFile ? "NATS_KEY" : "NATS_CERT", "is missing: a client certificate needs both NATS_CERT and NATS_KEY.");
  }
  return Object.keys(tls).length > 0 ? tls : undefined;
}

function readVariableFile(variable: string, path: string, what: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    throw new SetupError(variable, `cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}).`, `point it at ${what}.`, { cause: e });
  }
}
