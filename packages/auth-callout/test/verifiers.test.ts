import { readFile } from "node:fs/promises";

import { AuthRequest, clientCertificate, Ed25519Signer, encodeJwt, verifyNkey, verifyPresentedJwt, type AuthorizationRequestClaims } from "@natsflow/auth-callout";
import { createTestPki } from "@natsflow/testing";
import { createUser } from "nkeys.js";
import { describe, expect, it } from "vitest";

const NONCE = "kD0ntR3playM3";

function request(connectOpts: Record<string, unknown>, extra: Record<string, unknown> = {}): AuthRequest {
  const claims = {
    iss: "N",
    sub: "A",
    nats: { server_id: { id: "N", name: "n", host: "h" }, user_nkey: "U", client_info: { nonce: NONCE, ...(extra.client_info as object) }, connect_opts: { protocol: 1, ...connectOpts }, ...extra },
  } as unknown as AuthorizationRequestClaims;
  return new AuthRequest(claims, { signal: new AbortController().signal, at: Date.now() + 1000 });
}

const sign = (kp: ReturnType<typeof createUser>, nonce = NONCE) => Buffer.from(kp.sign(new TextEncoder().encode(nonce))).toString("base64url");

describe("verifyNkey", () => {
  const user = createUser();

  it("returns the key when the nonce signature verifies (URL-safe or standard base64)", () => {
    expect(verifyNkey(request({ nkey: user.getPublicKey(), sig: sign(user) }))).toBe(user.getPublicKey());
    const std = Buffer.from(user.sign(new TextEncoder().encode(NONCE))).toString("base64");
    expect(verifyNkey(request({ nkey: user.getPublicKey(), sig: std }))).toBe(user.getPublicKey());
  });

  it("refuses a wrong signature, a signature over another nonce, a missing one, and a signature with no nonce", () => {
    expect(() => verifyNkey(request({ nkey: user.getPublicKey(), sig: sign(createUser()) }))).toThrow("nonce signature does not verify");
    expect(() => verifyNkey(request({ nkey: user.getPublicKey(), sig: sign(user, "other") }))).toThrow("nonce signature does not verify");
    expect(() => verifyNkey(request({ nkey: user.getPublicKey() }))).toThrow("no nonce signature presented");
    const noNonce = request({ nkey: user.getPublicKey(), sig: sign(user) }, { client_info: { nonce: undefined } });
    expect(() => verifyNkey(noNonce)).toThrow(/issued no nonce/);
    expect(() => verifyNkey(request({ nkey: "not-a-key", sig: sign(user) }))).toThrow("presented nkey is not a user public key");
  });
});

describe("verifyPresentedJwt", () => {
  const account = Ed25519Signer.generate("account");
  const user = createUser();
  const jwt = (claims: Record<string, unknown> = {}, nats: Record<string, unknown> = {}, signer = account) =>
    encodeJwt({ iss: signer.publicKey, sub: user.getPublicKey(), name: "dana", ...claims, nats: { type: "user", version: 2, ...nats } }, signer);
  const presented = (token: string, sig = sign(user)) => request({ jwt: token, sig });
  const trusted = { trustedIssuers: [account.publicKey] };

  it("accepts a current JWT from a trusted issuer whose subject signed the nonce", () => {
    expect(verifyPresentedJwt(presented(jwt()), trusted).name).toBe("dana");
  });

  it("refuses forged, expired, not-yet-valid, untrusted, non-user and unsigned-nonce JWTs", () => {
    const [h, , s] = jwt().split(".");
    const forged = `${h}.${Buffer.from(JSON.stringify({ iss: account.publicKey, sub: user.getPublicKey(), nats: { type: "user" }, name: "root" })).toString("base64url")}.${s}`;
    expect(() => verifyPresentedJwt(presented(forged), trusted)).toThrow("presented JWT rejected: bad signature");
    expect(() => verifyPresentedJwt(presented(jwt({ exp: Math.floor(Date.now() / 1000) - 5 })), trusted)).toThrow("presented JWT has expired");
    expect(() => verifyPresentedJwt(presented(jwt({ nbf: Math.floor(Date.now() / 1000) + 600 })), trusted)).toThrow("not valid yet");
    expect(() => verifyPresentedJwt(presented(jwt({}, {}, Ed25519Signer.generate("account"))), trusted)).toThrow("not from a trusted issuer");
    expect(() => verifyPresentedJwt(presented(jwt({}, { type: "account" })), trusted)).toThrow("not a user JWT");
    expect(() => verifyPresentedJwt(presented(jwt({}, { issuer_account: Ed25519Signer.generate("account").publicKey })), trusted)).toThrow("issuer account is not trusted");
    expect(() => verifyPresentedJwt(presented(jwt(), sign(createUser())), trusted)).toThrow("nonce signature does not verify");
    expect(() => verifyPresentedJwt(presented("garbage"), trusted)).toThrow(/presented JWT rejected: malformed/);
  });

  it("accepts a bearer JWT without a nonce signature only when allowed", () => {
    const bearer = request({ jwt: jwt({}, { bearer_token: true }) });
    expect(() => verifyPresentedJwt(bearer, trusted)).toThrow("no nonce signature presented");
    expect(verifyPresentedJwt(bearer, { ...trusted, allowBearer: true }).sub).toBe(user.getPublicKey());
  });
});

describe("clientCertificate", () => {
  it("parses the verified chain; refuses unverified or unreadable certificates unless told otherwise", async () => {
    const pki = await createTestPki();
    try {
      const client = await pki.client("device-9", ["email:d9@example.test", "URI:spiffe://test/d9"]);
      const leaf = await readFile(client.certFile, "utf8");
      const ca = await readFile(pki.caFile, "utf8");
      const cert = clientCertificate(request({}, { client_tls: { verified_chains: [[leaf, ca]] } }));
      expect(cert).toMatchObject({ commonName: "device-9", verified: true });
      expect(cert.subjectAltNames).toEqual(["email:d9@example.test", "URI:spiffe://test/d9"]);
      expect(cert.chain).toHaveLength(2);
      expect(cert.fingerprint256).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
      const unverified = request({}, { client_tls: { certs: [leaf] } });
      expect(() => clientCertificate(unverified)).toThrow("client certificate was not verified by the server");
      expect(clientCertificate(unverified, { requireVerified: false }).verified).toBe(false);
      expect(() => clientCertificate(request({}, { client_tls: { verified_chains: [["-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"]] } }))).toThrow(
        "client certificate cannot be parsed",
      );
      expect(() => clientCertificate(request({}))).toThrow("no client certificate presented");
    } finally {
      await pki.remove();
    }
  });
});
