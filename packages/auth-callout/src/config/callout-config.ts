import { SetupError, type InjectionToken, type Provider } from "@natsflow/core";

import { KeyError } from "../errors.js";
import { Ed25519Signer } from "../keys/ed25519.js";
import { XKey } from "../keys/xkey.js";

export interface AuthCalloutOptions {
  /**
   * Seed (`SA…`) of the account key that signs user JWTs and responses. In config mode its public
   * key is the server's `authorization { auth_callout { issuer } }`.
   */
  issuerSeed: string;
  /**
   * Curve seed (`SX…`) whose public key is the server's `auth_callout { xkey }`. Give it exactly
   * when the server encrypts requests.
   */
  xkeySeed?: string | undefined;
  /** Most time an authorizer gets, in ms; the server's own deadline may cut it shorter. Default 1500. */
  timeoutMs?: number;
  /** Time kept back before the server's deadline to sign and deliver the answer. Default 200 ms. */
  deadlineMarginMs?: number;
}

/** The validated callout settings, with keys parsed once. Injectable by type. */
export class AuthCalloutConfig {
  private constructor(
    readonly issuer: Ed25519Signer,
    readonly xkey: XKey | undefined,
    readonly timeoutMs: number,
    readonly deadlineMarginMs: number,
  ) {}

  /** Checks every setting; a bad one is a `SetupError` naming it and the fix. */
  static from(options: AuthCalloutOptions): AuthCalloutConfig {
    if (options === null || typeof options !== "object") {
      throw new SetupError("authCallout options", "must be an object like { issuerSeed }.");
    }
    const issuer = parseKey("issuerSeed", options.issuerSeed, true, () => Ed25519Signer.fromSeed(options.issuerSeed, "account"),
      "use the seed of an account nkey (`nsc generate nkey --account`, or createAccount() from nkeys.js); its public key goes in the server's auth_callout.issuer.");
    const xkey = parseKey("xkeySeed", options.xkeySeed, false, () => XKey.fromSeed(options.xkeySeed as string),
      "use a curve seed (`nsc generate nkey --curve`, or createCurve() from nkeys.js) whose public key is the server's auth_callout.xkey, or leave it out when the server does not encrypt.");
    const timeoutMs = positive("timeoutMs", options.timeoutMs ?? 1500);
    const deadlineMarginMs = positive("deadlineMarginMs", options.deadlineMarginMs ?? 200);
    return new AuthCalloutConfig(issuer as Ed25519Signer, xkey, timeoutMs, deadlineMarginMs);
  }
}

function parseKey<T>(setting: string, value: unknown, required: boolean, parse: () => T, fix: string): T | undefined {
  if (value === undefined || value === "") {
    if (required) throw new SetupError(setting, "is required.", fix);
    return undefined;
  }
  if (typeof value !== "string") throw new SetupError(setting, `must be a string, got ${typeof value}.`, fix);
  try {
    return parse();
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
export function authCalloutConfig(options: AuthCalloutOptions): Provider<AuthCalloutConfig> {
  return { provide: AUTH_CALLOUT_CONFIG, useValue: AuthCalloutConfig.from(options) };
}
