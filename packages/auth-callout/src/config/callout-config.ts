import { isValidSubject, SetupError, type InjectionToken, type Provider } from "@natsflow/core";

import { KeyError } from "../errors.js";
import { bruteForceSettings, type BruteForceOptions, type BruteForceSettings } from "./brute-force.js";
import { Ed25519Signer } from "../keys/ed25519.js";
import { isPublicKey } from "../keys/nkeys.js";
import { XKey } from "../keys/xkey.js";

export interface OperatorAccountOptions {
  /** The account's public key (`A…`). */
  publicKey: string;
  /** Seed of the key that signs this account's users: the account's own, or one of its signing keys. */
  signingKeySeed: string;
  /**
   * The signing key is scoped: the server replaces the user's permissions and limits with the key's
   * template, so grants for this account must not carry their own.
   */
  scoped?: boolean;
}

export interface OperatorModeOptions {
  /** The callout account's public key, when `issuerSeed` is one of its signing keys. Default: `issuerSeed`'s public key. */
  calloutAccount?: string;
  /** Accounts users may be placed in, by name: grants name them by this name or by public key. */
  accounts: Record<string, OperatorAccountOptions>;
}

export interface AuthCalloutOptions {
  /**
   * Seed (`SA…`) of the account key that signs responses — and, in config mode, user JWTs. Config
   * mode: its public key is the server's `auth_callout.issuer`. Operator mode: the callout account's
   * key or one of its signing keys. Default: the `NATS_CALLOUT_ISSUER_SEED` variable.
   */
  issuerSeed?: string;
  /**
   * Curve seed (`SX…`) whose public key is the server's `auth_callout.xkey` (config mode) or the
   * callout account's `authorization.xkey` (operator mode). Give it exactly when the server encrypts.
   * Default: the `NATS_CALLOUT_XKEY_SEED` variable, when set.
   */
  xkeySeed?: string | undefined;
  /** Where the seeds the options leave out are read from. Default `process.env`; `false` reads none. */
  env?: Readonly<Record<string, string | undefined>> | false;
  /** Decentralized (operator/JWT) mode: the server runs with an operator and the callout is set in an account JWT. */
  operator?: OperatorModeOptions;
  /** Most time an authorizer gets, in ms; the server's own deadline may cut it shorter. Default 1500. */
  timeoutMs?: number;
  /** Time kept back before the server's deadline to sign and deliver the answer. Default 200 ms. */
  deadlineMarginMs?: number;
  /**
   * The server's `authorization.timeout`, in ms. By default it is read from each request (`exp − iat`,
   * whole seconds); set it when the server's timeout is not a whole number of seconds (e.g. 500 for 0.5).
   */
  serverTimeoutMs?: number;
  /** Publish every decision (no secrets) as JSON on this subject, e.g. for a JetStream stream. */
  auditSubject?: string;
  /**
   * When the request's Ed25519 signature is checked. "once-per-server-xkey" (default): with xkey,
   * on the first request sealed by each server xkey; later ones are authenticated by the box itself
   * (XSalsa20-Poly1305 under X25519, which only that server and this service can make). Without xkey
   * every request is checked either way. "every-request": always check it.
   */
  requestSignatures?: RequestSignatureCheck;
  /** Brute-force protection for password and token logins (docs/brute-force.md). On by default; false turns it off. */
  bruteForce?: BruteForceOptions | false;
}

export type RequestSignatureCheck = "once-per-server-xkey" | "every-request";

/** A target account in operator mode, with the key that signs its users. */
export interface AccountSigner {
  readonly name: string;
  readonly publicKey: string;
  readonly signer: Ed25519Signer;
  readonly scoped: boolean;
}

export type CalloutMode =
  | { readonly kind: "config" }
  | {
      readonly kind: "operator";
      readonly calloutAccount: string;
      /** By account name and by public key. */
      readonly accounts: ReadonlyMap<string, AccountSigner>;
    };

/** The validated callout settings, with keys parsed once. Injectable by type. */
export class AuthCalloutConfig {
  private constructor(
    readonly issuer: Ed25519Signer,
    readonly xkey: XKey | undefined,
    readonly mode: CalloutMode,
    readonly timeoutMs: number,
    readonly deadlineMarginMs: number,
    readonly serverTimeoutMs: number | undefined,
    readonly auditSubject: string | undefined,
    readonly requestSignatures: RequestSignatureCheck,
    /** Undefined when brute-force protection is off. */
    readonly bruteForce: BruteForceSettings | undefined,
  ) {}

  /** The `sub` of every request meant for this service: the config-mode issuer, or the callout account. */
  get audienceKey(): string {
    return this.mode.kind === "operator" ? this.mode.calloutAccount : this.issuer.publicKey;
  }

  /** Set on responses when a signing key, not the callout account itself, signs them. */
  get responseIssuerAccount(): string | undefined {
    return this.mode.kind === "operator" && this.mode.calloutAccount !== this.issuer.publicKey ? this.mode.calloutAccount : undefined;
  }

  /** Checks every setting; a bad one is a `SetupError` naming it and the fix. */
  static from(options: AuthCalloutOptions): AuthCalloutConfig {
    if (options === null || typeof options !== "object") {
      throw new SetupError("authCallout options", "must be an object like { issuerSeed }, or left out to read NATS_CALLOUT_ISSUER_SEED.");
    }
    const env = options.env === false ? {} : (options.env ?? process.env);
    // A seed from the environment is named by its variable in errors: that is what the operator sets.
    const [issuerSetting, issuerSeed] = options.issuerSeed === undefined ? ["NATS_CALLOUT_ISSUER_SEED", env.NATS_CALLOUT_ISSUER_SEED] : ["issuerSeed", options.issuerSeed];
    const [xkeySetting, xkeySeed] = options.xkeySeed === undefined ? ["NATS_CALLOUT_XKEY_SEED", env.NATS_CALLOUT_XKEY_SEED] : ["xkeySeed", options.xkeySeed];
    const issuer = parseSeed(issuerSetting, issuerSeed, true, (seed) => Ed25519Signer.fromSeed(seed, "account"),
      "use the seed of an account nkey (`nsc generate nkey --account`, or createAccount() from nkeys.js); its public key goes in the server's auth_callout.issuer.") as Ed25519Signer;
    const xkey = parseSeed(xkeySetting, xkeySeed, false, (seed) => XKey.fromSeed(seed),
      "use a curve seed (`nsc generate nkey --curve`, or createCurve() from nkeys.js) whose public key is the server's xkey, or leave it out when the server does not encrypt.");
    const mode: CalloutMode = options.operator === undefined ? { kind: "config" } : operatorMode(options.operator, issuer);
    const timeoutMs = positive("timeoutMs", options.timeoutMs ?? 1500);
    const deadlineMarginMs = positive("deadlineMarginMs", options.deadlineMarginMs ?? 200);
    const serverTimeoutMs = options.serverTimeoutMs === undefined ? undefined : positive("serverTimeoutMs", options.serverTimeoutMs);
    if (serverTimeoutMs !== undefined && serverTimeoutMs <= deadlineMarginMs) {
      throw new SetupError("serverTimeoutMs", `(${serverTimeoutMs} ms) leaves no time after deadlineMarginMs (${deadlineMarginMs} ms).`, "give the server's authorization.timeout in ms, and a smaller deadlineMarginMs.");
    }
    if (options.auditSubject !== undefined && !isValidSubject(options.auditSubject)) {
      throw new SetupError("auditSubject", `"${String(options.auditSubject)}" is not a subject to publish on.`, 'use something like "natsflow.auth.audit".');
    }
    const bruteForce = bruteForceSettings(options.bruteForce, issuerSeed as string);
    const requestSignatures = options.requestSignatures ?? "once-per-server-xkey";
    if (requestSignatures !== "once-per-server-xkey" && requestSignatures !== "every-request") {
      throw new SetupError("requestSignatures", `must be "once-per-server-xkey" or "every-request", got ${JSON.stringify(requestSignatures)}.`);
    }
    return new AuthCalloutConfig(issuer, xkey, mode, timeoutMs, deadlineMarginMs, serverTimeoutMs, options.auditSubject, requestSignatures, bruteForce);
  }
}

function operatorMode(options: OperatorModeOptions, issuer: Ed25519Signer): CalloutMode {
  if (options === null || typeof options !== "object") throw new SetupError("operator", "must be an object like { accounts }.");
  const calloutAccount = options.calloutAccount ?? issuer.publicKey;
  if (!isPublicKey(calloutAccount, "account")) {
    throw new SetupError("operator.calloutAccount", "is not an account public key (\"A…\").", "give the public key of the account whose JWT has the authorization block.");
  }
  if (options.accounts === null || typeof options.accounts !== "object" || Object.keys(options.accounts).length === 0) {
    throw new SetupError("operator.accounts", "must name at least one account users can be placed in.", 'give { APP: { publicKey: "A…", signingKeySeed: "SA…" } }.');
  }
  const accounts = new Map<string, AccountSigner>();
  for (const [name, a] of Object.entries(options.accounts)) {
    const where = `operator.accounts.${name}`;
    if (!isPublicKey(a?.publicKey, "account")) throw new SetupError(`${where}.publicKey`, "is not an account public key (\"A…\").");
    const signer = parseSeed(`${where}.signingKeySeed`, a.signingKeySeed, true, (seed) => Ed25519Signer.fromSeed(seed, "account"),
      "use the account's seed or the seed of one of its signing keys (`nsc edit account --sk generate`).") as Ed25519Signer;
    const entry: AccountSigner = { name, publicKey: a.publicKey, signer, scoped: a.scoped === true };
    if (accounts.has(name)) throw new SetupError(where, `uses the name ${name}, which is another account's public key.`);
    accounts.set(name, entry);
    // Several names may share an account (say, a plain and a scoped key); by public key, the first one answers.
    if (!accounts.has(a.publicKey)) accounts.set(a.publicKey, entry);
  }
  return { kind: "operator", calloutAccount, accounts };
}

function parseSeed<T>(setting: string, value: unknown, required: boolean, parse: (seed: string) => T, fix: string): T | undefined {
  if (value === undefined || value === "") {
    if (required) throw new SetupError(setting, "is required.", fix);
    return undefined;
  }
  if (typeof value !== "string") throw new SetupError(setting, `must be a string, got ${typeof value}.`, fix);
  try {
    return parse(value);
  } catch (e) {
    // KeyError messages describe the key's shape, never its value.
    if (e instanceof KeyError) throw new SetupError(setting, `${e.message}.`, fix, { cause: e });
    throw e;
  }
}

function positive(setting: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new SetupError(setting, `must be a positive number of milliseconds, got ${String(value)}.`);
  }
  return value;
}

/** `AuthCalloutConfig` as a DI token: its constructor is private, so only `from` makes one. */
export const AUTH_CALLOUT_CONFIG = AuthCalloutConfig as unknown as InjectionToken<AuthCalloutConfig>;

/** The provider to list in `NatsApp.create({ providers })` next to an `@AuthCallout()` class. */
export function authCalloutConfig(options: AuthCalloutOptions = {}): Provider<AuthCalloutConfig> {
  return { provide: AUTH_CALLOUT_CONFIG, useValue: AuthCalloutConfig.from(options) };
}
