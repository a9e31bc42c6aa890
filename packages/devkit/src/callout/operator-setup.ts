import { encodeAccount, encodeOperator, encodeUser, fmtCreds, newScopedSigner, type UserPermissionsLimits } from "@nats-io/jwt";
import { createAccount, createOperator, createUser, type KeyPair } from "nkeys.js";

import { newCurveKey, type KeyPairText } from "./callout-setup.js";

const decoder = new TextDecoder();

function text(kp: KeyPair): KeyPairText {
  return { seed: decoder.decode(kp.getSeed()), publicKey: kp.getPublicKey() };
}

export interface OperatorAccount {
  /** The account's identity key. */
  account: KeyPairText;
  /** A plain signing key registered in the account JWT. */
  signingKey: KeyPairText;
  /** A scoped signing key whose template (role "scoped") the server applies to the users it signs. */
  scopedKey: KeyPairText;
  /** The scoped key's template. */
  scopedTemplate: Partial<UserPermissionsLimits>;
  jwt: string;
}

export interface OperatorModeCalloutOptions {
  /** Encrypt requests and responses. Default true. */
  xkey?: boolean;
  /** Accounts users may be placed in besides the callout account. Default ["APP"]. */
  accounts?: string[];
  /** Permissions template of each account's scoped signing key. Default: pub/sub on `scoped.>` and `_INBOX.>`. */
  scopedTemplate?: Partial<UserPermissionsLimits>;
}

export interface OperatorModeCallout {
  operator: KeyPairText;
  system: KeyPairText;
  /** The callout account (its JWT carries `authorization`); its key signs responses. */
  callout: OperatorAccount;
  accounts: Record<string, OperatorAccount>;
  xkey: KeyPairText | undefined;
  /** Creds of the service's user, listed in the callout account's `auth_users`. */
  serviceCreds: string;
  /** Creds every client presents to reach the callout: a bearer user of the callout account that may do nothing. */
  sentinelCreds: string;
  /** Creds of a user of the system account, for `$SYS` requests in tests. */
  systemCreds: string;
  /** nats-server config: operator JWT, system account, `resolver: MEMORY` with every account JWT preloaded. */
  serverConfig: Record<string, unknown>;
}

// Without limits an account JWT allows zero connections and subscriptions.
const UNLIMITED_ACCOUNT = { subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1 };

async function account(name: string, operator: KeyPair, template: Partial<UserPermissionsLimits>): Promise<{ meta: Omit<OperatorAccount, "jwt">; kp: KeyPair; jwt: (more?: Record<string, unknown>) => Promise<string> }> {
  const kp = createAccount();
  const sk = createAccount();
  const scoped = createAccount();
  const meta = { account: text(kp), signingKey: text(sk), scopedKey: text(scoped), scopedTemplate: template };
  const jwt = (more: Record<string, unknown> = {}) =>
    encodeAccount(name, kp, { limits: UNLIMITED_ACCOUNT, signing_keys: [sk.getPublicKey(), newScopedSigner(scoped, "scoped", template)], ...more }, { signer: operator });
  return { meta, kp, jwt };
}

async function creds(name: string, issuer: KeyPair, user: Record<string, unknown>): Promise<string> {
  const ukp = createUser();
  const token = await encodeUser(name, ukp, issuer, user);
  return decoder.decode(fmtCreds(token, ukp));
}

/**
 * A decentralized (operator mode) auth callout deployment, made in code because `nsc` is not
 * available everywhere: operator, system account, callout account with its `authorization` block,
 * app accounts with plain and scoped signing keys, and the creds the service and clients use.
 */
export async function operatorModeCallout(options: OperatorModeCalloutOptions = {}): Promise<OperatorModeCallout> {
  const template = options.scopedTemplate ?? { pub: { allow: ["scoped.>"] }, sub: { allow: ["scoped.>", "_INBOX.>"] } };
  const operatorKp = createOperator();
  const system = await account("SYS", operatorKp, template);
  const apps: Record<string, Awaited<ReturnType<typeof account>>> = {};
  for (const name of options.accounts ?? ["APP"]) apps[name] = await account(name, operatorKp, template);
  const xkey = options.xkey === false ? undefined : newCurveKey();
  const callout = await account("AUTH", operatorKp, template);
  const serviceUser = createUser();
  const calloutJwt = await callout.jwt({
    authorization: {
      auth_users: [serviceUser.getPublicKey()],
      allowed_accounts: Object.values(apps).map((a) => a.meta.account.publicKey),
      ...(xkey ? { xkey: xkey.publicKey } : {}),
    },
  });
  const serviceToken = await encodeUser("auth-service", serviceUser, callout.kp, {});
  const serviceCreds = decoder.decode(fmtCreds(serviceToken, serviceUser));
  const sentinelCreds = await creds("sentinel", callout.kp, { bearer_token: true, pub: { deny: [">"] }, sub: { deny: [">"] } });
  const systemCreds = await creds("sys", system.kp, {});
  const operatorJwt = await encodeOperator("OP", operatorKp, { system_account: system.meta.account.publicKey });
  const accounts: Record<string, OperatorAccount> = {};
  const preload: Record<string, string> = {
    [system.meta.account.publicKey]: await system.jwt(),
    [callout.meta.account.publicKey]: calloutJwt,
  };
  for (const [name, app] of Object.entries(apps)) {
    const jwt = await app.jwt();
    accounts[name] = { ...app.meta, jwt };
    preload[app.meta.account.publicKey] = jwt;
  }
  return {
    operator: text(operatorKp),
    system: system.meta.account,
    callout: { ...callout.meta, jwt: calloutJwt },
    accounts,
    xkey,
    serviceCreds,
    sentinelCreds,
    systemCreds,
    serverConfig: {
      operator: operatorJwt,
      system_account: system.meta.account.publicKey,
      resolver: "MEMORY",
      resolver_preload: preload,
    },
  };
}
