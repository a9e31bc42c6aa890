// Every credential kind, presented by a real client through a real nats-server, checked by the verifiers.
import "reflect-metadata";

import { createHmac } from "node:crypto";

import {
  AuthCallout,
  authCalloutConfig,
  AuthError,
  clientCertificate,
  hashPassword,
  verifyNkey,
  verifyPassword,
  verifyPresentedJwt,
  type AuthCalloutOptions,
  type Authorizer,
  type AuthRequest,
  type Grant,
} from "@natsflow/auth-callout";
import { connectNats, injectable, NatsApp, type NatsAppOptions } from "@natsflow/core";
import { captureLogs, configModeCallout, createTestPki, operatorModeCallout, registerSecret, startNatsServer, type NatsServer, type TestPki } from "@natsflow/testing";
import { encodeUser, fmtCreds } from "@nats-io/jwt";
import { connect, credsAuthenticator, nkeyAuthenticator, type NatsConnection } from "nats";
import { createAccount, createUser, fromSeed } from "nkeys.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";

const enc = new TextEncoder();
const dec = new TextDecoder();
const HMAC_SECRET = "per-connect-secret";
for (const s of ["c4rol-pw", "t0ken-for-svc", HMAC_SECRET]) registerSecret(s);

/** Directory of the test: what each credential maps to. */
@injectable()
class Directory {
  passwordHash = "";
  nkey = "";
  trustedIssuers: string[] = [];
  last: AuthRequest | undefined;
}

@AuthCallout()
class CredentialAuthorizer implements Authorizer {
  constructor(private readonly dir: Directory) {}

  async authorize(req: AuthRequest): Promise<Grant> {
    this.dir.last = req;
    const name = (n: string): Grant => ({ account: "APP", name: n, permissions: { pub: { allow: ["$SYS.REQ.USER.INFO"] }, sub: { allow: ["_INBOX.>"] } } });
    if (req.clientTls?.verified_chains || req.clientTls?.certs) {
      const cert = clientCertificate(req);
      if (cert.commonName === "device-1" && cert.subjectAltNames.includes("email:device-1@example.test")) return name(`cert:${cert.commonName}`);
      throw new AuthError("unknown certificate");
    }
    if (req.jwt) {
      const claims = verifyPresentedJwt(req, { trustedIssuers: this.dir.trustedIssuers });
      return this.dir.trustedIssuers.length ? { account: "APP", name: `jwt:${claims.name}`, permissions: "all" } : name("never");
    }
    if (req.nkey) {
      if (verifyNkey(req) !== this.dir.nkey) throw new AuthError("unknown nkey");
      return name("nkey-user");
    }
    if (req.token?.startsWith("hmac.")) {
      const [, ts, mac] = req.token.split(".");
      const expected = createHmac("sha256", HMAC_SECRET).update(ts ?? "").digest("base64url");
      if (mac !== expected || Math.abs(Date.now() - Number(ts)) > 30_000) throw new AuthError("bad per-connect token");
      return name("callback-user");
    }
    if (req.token) {
      if (req.token !== "t0ken-for-svc") throw new AuthError("unknown token");
      return name("token-user");
    }
    if (req.username === "carol" && (await verifyPassword(this.dir.passwordHash, req.password, { deadline: req.deadline }))) {
      return name(req.clientInfo.type === "websocket" ? "carol-ws" : "carol");
    }
    throw new AuthError("invalid credentials");
  }
}

async function whoAmI(nc: NatsConnection): Promise<{ user: string; account: string }> {
  const reply = await nc.request("$SYS.REQ.USER.INFO", enc.encode(""), { timeout: 2000 });
  return (JSON.parse(dec.decode(reply.data)) as { data: { user: string; account: string } }).data;
}

async function userOf(nc: NatsConnection | Promise<NatsConnection>): Promise<string> {
  const c = await nc;
  try {
    return (await whoAmI(c)).user;
  } finally {
    await c.close();
  }
}

/** The credential authorizer as a started service, logged in with `login`. */
async function startAuthorizer(dir: Directory, login: Partial<NatsAppOptions>, callout: AuthCalloutOptions): Promise<NatsApp> {
  const app = await NatsApp.create({
    ...login,
    controllers: [CredentialAuthorizer],
    providers: [{ provide: Directory, useValue: dir }, authCalloutConfig(callout)],
    logger: captureLogs().logger,
  });
  await app.start();
  return app;
}

describe("credential kinds in config mode (xkey on)", () => {
  let server: NatsServer;
  let app: NatsApp;
  const dir = new Directory();
  const userKey = createUser();
  const otherKey = createUser();

  beforeAll(async () => {
    dir.passwordHash = await hashPassword("c4rol-pw", "argon2id");
    dir.nkey = userKey.getPublicKey();
    const setup = configModeCallout({
      xkey: true,
      // An nkey user makes the server issue nonces, which NKey and signature checks need.
      accounts: { APP: {}, SYS: { users: [{ nkey: createUser().getPublicKey() }] } },
    });
    server = await startNatsServer({ config: { ...setup.serverConfig, websocket: { host: "127.0.0.1", port: -1, no_tls: true } } });
    app = await startAuthorizer(dir, { servers: server.url, ...setup.serviceUser }, setup.callout);
  });

  afterAll(async () => {
    await app?.stop();
    await server?.stop();
  });

  const base = () => ({ servers: server.url, reconnect: false, timeout: 5000 });
  /** A natsflow client given credentials inside the URL, as the Go client and the CLI take them. */
  const viaUrl = async (url: string) => {
    const t = await connectNats({ servers: url, maxReconnectAttempts: 0 });
    try {
      const reply = await t.request("$SYS.REQ.USER.INFO", new Uint8Array(), { timeoutMs: 2000 });
      return (JSON.parse(dec.decode(reply.data)) as { data: { user: string } }).data.user;
    } finally {
      await t.close();
    }
  };
  const refused = (p: Promise<NatsConnection>) => expect(p).rejects.toThrow(/authorization violation/i);

  it("user and password, checked against an argon2 hash; also given in the URL", async () => {
    expect(await userOf(connect({ ...base(), user: "carol", pass: "c4rol-pw" }))).toBe("carol");
    expect(await viaUrl(`nats://carol:c4rol-pw@127.0.0.1:${server.port}`)).toBe("carol");
    await refused(connect({ ...base(), user: "carol", pass: "wrong" }));
  });

  it("a token; also given in the URL", async () => {
    expect(await userOf(connect({ ...base(), token: "t0ken-for-svc" }))).toBe("token-user");
    expect(await viaUrl(`nats://t0ken-for-svc@127.0.0.1:${server.port}`)).toBe("token-user");
    await refused(connect({ ...base(), token: "guess" }));
  });

  it("an NKey: the nonce signature is verified", async () => {
    expect(await userOf(connect({ ...base(), authenticator: nkeyAuthenticator(userKey.getSeed()) }))).toBe("nkey-user");
    expect(dir.last?.nonce).toBeTruthy();
    // Claims to be the known key but signs with another.
    const forged = (nonce?: string) => ({ nkey: userKey.getPublicKey(), sig: Buffer.from(otherKey.sign(enc.encode(nonce ?? ""))).toString("base64url") });
    await refused(connect({ ...base(), authenticator: forged }));
    await refused(connect({ ...base(), authenticator: nkeyAuthenticator(otherKey.getSeed()) }));
  });

  it("credentials computed per connect by an auth callback", async () => {
    const perConnect = () => {
      const ts = String(Date.now());
      return { auth_token: `hmac.${ts}.${createHmac("sha256", HMAC_SECRET).update(ts).digest("base64url")}` };
    };
    expect(await userOf(connect({ ...base(), authenticator: perConnect }))).toBe("callback-user");
    const stale = () => {
      const ts = String(Date.now() - 120_000);
      return { auth_token: `hmac.${ts}.${createHmac("sha256", HMAC_SECRET).update(ts).digest("base64url")}` };
    };
    await refused(connect({ ...base(), authenticator: stale }));
  });

  it("a WebSocket client, seen as client_info.type websocket", async () => {
    const g = globalThis as { WebSocket?: unknown };
    const had = g.WebSocket;
    g.WebSocket = WebSocket;
    try {
      const { connect: wsConnect } = await import("nats.ws");
      const nc = await wsConnect({ servers: server.websocketUrl as string, user: "carol", pass: "c4rol-pw", reconnect: false });
      const reply = await nc.request("$SYS.REQ.USER.INFO", enc.encode(""), { timeout: 2000 });
      expect(JSON.parse(dec.decode(reply.data)).data.user).toBe("carol-ws");
      expect(dir.last?.clientInfo.type).toBe("websocket");
      await nc.close();
    } finally {
      g.WebSocket = had;
    }
  });

  it("password helpers: argon2, bcrypt, and plain text only when allowed", async () => {
    const bcrypt = await hashPassword("pw", "bcrypt");
    expect(bcrypt).toMatch(/^\$2[aby]\$10\$/);
    expect(await verifyPassword(bcrypt, "pw")).toBe(true);
    expect(await verifyPassword(bcrypt, "nope")).toBe(false);
    expect(await verifyPassword(dir.passwordHash, "c4rol-pw")).toBe(true);
    expect(await verifyPassword(dir.passwordHash, undefined)).toBe(false);
    await expect(verifyPassword("plain", "plain")).rejects.toThrow(/not an argon2 or bcrypt hash/);
    expect(await verifyPassword("plain", "plain", { allowPlaintext: true })).toBe(true);
  });
});

describe("TLS client certificates (verify: true)", () => {
  let pki: TestPki;
  let server: NatsServer;
  let app: NatsApp;
  const dir = new Directory();

  beforeAll(async () => {
    pki = await createTestPki();
    const setup = configModeCallout({ xkey: true });
    server = await startNatsServer({
      config: { ...setup.serverConfig, tls: { cert_file: pki.server.certFile, key_file: pki.server.keyFile, ca_file: pki.caFile, verify: true } },
    });
    const service = await pki.client("auth-service");
    app = await startAuthorizer(
      dir,
      { servers: `tls://127.0.0.1:${server.port}`, ...setup.serviceUser, tls: { caFile: pki.caFile, certFile: service.certFile, keyFile: service.keyFile } },
      setup.callout,
    );
  });

  afterAll(async () => {
    await app?.stop();
    await server?.stop();
    await pki?.remove();
  });

  it("maps a verified certificate to a user by its subject and SAN", async () => {
    const device = await pki.client("device-1", ["email:device-1@example.test"]);
    const nc = connect({ servers: `tls://127.0.0.1:${server.port}`, reconnect: false, tls: { caFile: pki.caFile, certFile: device.certFile, keyFile: device.keyFile } });
    expect(await userOf(nc)).toBe("cert:device-1");
    expect(dir.last?.clientTls?.verified_chains?.[0]).toHaveLength(2);
  });

  it("refuses a certificate it does not know", async () => {
    const stranger = await pki.client("device-2");
    await expect(
      connect({ servers: `tls://127.0.0.1:${server.port}`, reconnect: false, tls: { caFile: pki.caFile, certFile: stranger.certFile, keyFile: stranger.keyFile } }),
    ).rejects.toThrow(/authorization violation/i);
  });

  it("a certificate from another CA never reaches the callout", async () => {
    const other = await createTestPki("another CA");
    try {
      const foreign = await other.client("device-1", ["email:device-1@example.test"]);
      dir.last = undefined;
      await expect(
        connect({ servers: `tls://127.0.0.1:${server.port}`, reconnect: false, timeout: 3000, tls: { caFile: pki.caFile, certFile: foreign.certFile, keyFile: foreign.keyFile } }),
      ).rejects.toThrow();
      expect(dir.last).toBeUndefined();
    } finally {
      await other.remove();
    }
  });
});

describe("presented user JWTs (creds) in operator mode", () => {
  let server: NatsServer;
  let app: NatsApp;
  const dir = new Directory();
  let issuerSeed: Uint8Array;
  let calloutAccount: string;

  beforeAll(async () => {
    const op = await operatorModeCallout({ xkey: true });
    const appAccount = op.accounts.APP!;
    calloutAccount = op.callout.account.publicKey;
    issuerSeed = enc.encode(op.callout.account.seed);
    dir.trustedIssuers = [calloutAccount];
    server = await startNatsServer({ config: op.serverConfig });
    app = await startAuthorizer(dir, { servers: server.url, creds: op.serviceCreds }, {
      issuerSeed: op.callout.account.seed,
      xkeySeed: op.xkey?.seed,
      operator: { accounts: { APP: { publicKey: appAccount.account.publicKey, signingKeySeed: appAccount.signingKey.seed } } },
    });
  });

  afterAll(async () => {
    await app?.stop();
    await server?.stop();
  });

  async function credsFor(name: string, issuer: Uint8Array, exp?: number): Promise<Uint8Array> {
    const user = createUser();
    const jwt = await encodeUser(name, user, fromSeed(issuer), {}, exp ? { exp } : {});
    return fmtCreds(jwt, user);
  }

  it("admits a client whose creds verify: trusted issuer, current, nonce signed by the JWT's subject", async () => {
    const nc = connect({ servers: server.url, reconnect: false, authenticator: credsAuthenticator(await credsFor("dana", issuerSeed)) });
    expect(await userOf(nc)).toBe("jwt:dana");
    expect(dir.last?.jwt).toBeTruthy();
    expect(dir.last?.nonce).toBeTruthy();
  });

  it("refuses creds from an issuer it does not trust, even when the server accepted them", async () => {
    dir.trustedIssuers = [createAccount().getPublicKey()];
    try {
      await expect(connect({ servers: server.url, reconnect: false, authenticator: credsAuthenticator(await credsFor("erin", issuerSeed)) })).rejects.toThrow(
        /authorization violation/i,
      );
    } finally {
      dir.trustedIssuers = [calloutAccount];
    }
  });
});
