import { randomBytes } from "node:crypto";

import { createAccount, createCurve } from "nkeys.js";

import { registerSecret } from "../secret-scan.js";

const decoder = new TextDecoder();

export interface KeyPairText {
  seed: string;
  publicKey: string;
}

/** A fresh account nkey: the callout issuer. */
export function newAccountKey(): KeyPairText {
  const kp = createAccount();
  return { seed: decoder.decode(kp.getSeed()), publicKey: kp.getPublicKey() };
}

/** A fresh curve nkey: the callout xkey. */
export function newCurveKey(): KeyPairText {
  const kp = createCurve();
  return { seed: decoder.decode(kp.getSeed()), publicKey: kp.getPublicKey() };
}

export interface ConfigModeCalloutOptions {
  /** Encrypt requests and responses with a curve key. Default true. */
  xkey?: boolean;
  /** Accounts besides the callout account (default APP and SYS), with their nats-server settings. */
  accounts?: Record<string, Record<string, unknown>>;
  /** The callout account's name. Default AUTH. */
  calloutAccount?: string;
  /** The server's auth timeout in seconds (the callout's whole budget). Default: the server's 2 s. */
  authTimeoutSeconds?: number;
  /** Enable JetStream in the callout account (the server needs `jetstream` on too), e.g. for a KV bucket. */
  jetstream?: boolean;
  /** Reuse keys instead of generating them. */
  issuer?: KeyPairText;
  xkeyPair?: KeyPairText;
}

export interface ConfigModeCallout {
  issuer: KeyPairText;
  xkey: KeyPairText | undefined;
  /** The service's own login, listed in `auth_users` so it never goes through the callout. */
  serviceUser: { user: string; pass: string };
  /** The options for `authCalloutConfig()`: `issuerSeed` and `xkeySeed`. */
  callout: { issuerSeed: string; xkeySeed: string | undefined };
  /** A nats-server config (object form) for `startNatsServer({ config })` or a config file. */
  serverConfig: Record<string, unknown>;
}

/**
 * Keys and a nats-server config for an auth callout in config mode: a callout account holding the
 * service's user, `auth_callout` naming the issuer (and xkey), and a system account, which a server
 * with a callout needs.
 */
export function configModeCallout(options: ConfigModeCalloutOptions = {}): ConfigModeCallout {
  const issuer = options.issuer ?? newAccountKey();
  const xkey = options.xkey === false ? undefined : (options.xkeyPair ?? newCurveKey());
  const calloutAccount = options.calloutAccount ?? "AUTH";
  const serviceUser = { user: "auth-service", pass: randomBytes(18).toString("base64url") };
  registerSecret(serviceUser.pass);
  const accounts: Record<string, Record<string, unknown>> = {
    [calloutAccount]: { users: [{ user: serviceUser.user, password: serviceUser.pass }], ...(options.jetstream ? { jetstream: "enabled" } : {}) },
    ...(options.accounts ?? { APP: {}, SYS: {} }),
  };
  if (!accounts.SYS) accounts.SYS = {};
  const serverConfig = {
    accounts,
    system_account: "SYS",
    authorization: {
      ...(options.authTimeoutSeconds !== undefined ? { timeout: options.authTimeoutSeconds } : {}),
      auth_callout: {
        issuer: issuer.publicKey,
        auth_users: [serviceUser.user],
        account: calloutAccount,
        ...(xkey ? { xkey: xkey.publicKey } : {}),
      },
    },
  };
  return { issuer, xkey, serviceUser, callout: { issuerSeed: issuer.seed, xkeySeed: xkey?.seed }, serverConfig };
}
