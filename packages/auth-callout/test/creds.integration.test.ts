// Minting creds in code and connecting with them to an operator-mode nats-server.
import { issueUserCredentials, parseCreds } from "@natsflow/auth-callout";
import { parseCreds as referenceParseCreds } from "@nats-io/jwt";
import { operatorModeCallout, startNatsServer, type NatsServer, type OperatorModeCallout } from "@natsflow/testing";
import { connect, credsAuthenticator } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const enc = new TextEncoder();
const dec = new TextDecoder();

describe("issueUserCredentials", () => {
  let op: OperatorModeCallout;
  let server: NatsServer;

  beforeAll(async () => {
    op = await operatorModeCallout({
      xkey: false,
      scopedTemplate: { pub: { allow: ["scoped.>", "$SYS.REQ.USER.INFO"] }, sub: { allow: ["scoped.>", "_INBOX.>"] } },
    });
    server = await startNatsServer({ config: op.serverConfig });
  });
  afterAll(() => server?.stop());

  async function whoIs(creds: string) {
    const nc = await connect({ servers: server.url, reconnect: false, authenticator: credsAuthenticator(enc.encode(creds)) });
    try {
      const reply = await nc.request("$SYS.REQ.USER.INFO", enc.encode(""), { timeout: 2000 });
      return (JSON.parse(dec.decode(reply.data)) as { data: { user: string; account: string; permissions?: unknown } }).data;
    } finally {
      await nc.close();
    }
  }

  it("mints creds signed by an account signing key that a real server accepts", async () => {
    const app = op.accounts.APP!;
    const minted = issueUserCredentials({
      grant: { account: app.account.publicKey, name: "minted", permissions: { pub: { allow: ["minted.>", "$SYS.REQ.USER.INFO"] }, sub: { allow: ["_INBOX.>"] } }, expiresInSeconds: 120 },
      signingKeySeed: app.signingKey.seed,
      account: app.account.publicKey,
    });
    expect(minted.seed).toMatch(/^SU/);
    expect(minted.creds).toContain("-----BEGIN NATS USER JWT-----");
    const me = await whoIs(minted.creds);
    expect(me.account).toBe(app.account.publicKey);
    expect(JSON.stringify(me.permissions)).toContain("minted.>");
  });

  it("mints creds for a scoped signing key, which the key's template governs", async () => {
    const app = op.accounts.APP!;
    const minted = issueUserCredentials({ grant: { account: app.account.publicKey, expiresInSeconds: 60 }, signingKeySeed: app.scopedKey.seed, account: app.account.publicKey, scoped: true });
    expect(JSON.stringify((await whoIs(minted.creds)).permissions)).toContain("scoped.>");
    expect(() =>
      issueUserCredentials({ grant: { account: app.account.publicKey, permissions: "all" }, signingKeySeed: app.scopedKey.seed, account: app.account.publicKey, scoped: true }),
    ).toThrow(/scoped key/);
  });

  it("parses .creds, its own and the reference library's agree", async () => {
    const app = op.accounts.APP!;
    const minted = issueUserCredentials({ grant: { account: app.account.publicKey, permissions: "all" }, signingKeySeed: app.account.seed });
    const parsed = parseCreds(minted.creds);
    expect(parsed).toMatchObject({ jwt: minted.jwt, seed: minted.seed, publicKey: minted.publicKey });
    expect(parsed.claims.iss).toBe(app.account.publicKey);
    const reference = await referenceParseCreds(enc.encode(minted.creds));
    expect(reference.jwt).toBe(minted.jwt);
    expect(reference.uc.sub).toBe(minted.publicKey);
    parseCreds(op.sentinelCreds);
    expect(() => parseCreds("garbage")).toThrow(/not a \.creds file/);
    const other = issueUserCredentials({ grant: { account: app.account.publicKey, permissions: "all" }, signingKeySeed: app.account.seed });
    expect(() => parseCreds(minted.creds.replace(minted.seed, other.seed))).toThrow(/does not belong/);
  });
});
