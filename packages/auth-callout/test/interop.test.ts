// Our node:crypto JWT and xkey code against the reference nats.js implementations (tweetnacl-based).
import { Algorithms, decode as jwtDecode, encode as jwtEncode } from "@nats-io/jwt";
import { decodeJwt, Ed25519Signer, encodeJwt, verifyJwt, XKey } from "@natsflow/auth-callout";
import { createAccount, createCurve, createServer, fromCurveSeed } from "nkeys.js";
import { describe, expect, it } from "vitest";

const dec = new TextDecoder();

describe("interoperability with nkeys.js and @nats-io/jwt", () => {
  it("derives the same public key from a seed as nkeys.js", () => {
    const kp = createAccount();
    expect(Ed25519Signer.fromSeed(dec.decode(kp.getSeed()), "account").publicKey).toBe(kp.getPublicKey());
    const curve = createCurve();
    expect(XKey.fromSeed(dec.decode(curve.getSeed())).publicKey).toBe(curve.getPublicKey());
  });

  it("signs JWTs that @nats-io/jwt decodes and verifies", () => {
    const kp = createAccount();
    const signer = Ed25519Signer.fromSeed(dec.decode(kp.getSeed()), "account");
    const token = encodeJwt({ iss: signer.publicKey, sub: "UXYZ", aud: "APP", nats: { type: "user", version: 2 } }, signer);
    const claims = jwtDecode<{ type: string }>(token);
    expect(claims.iss).toBe(kp.getPublicKey());
    expect(claims.aud).toBe("APP");
  });

  it("verifies JWTs signed by @nats-io/jwt, and rejects them once altered", async () => {
    const server = createServer();
    const token = await jwtEncode(
      Algorithms.v2,
      { aud: "nats-authorization-request", jti: "", iat: 0, iss: "", name: "", sub: "AXYZ", nats: { type: "authorization_request" } },
      server,
    );
    const decoded = decodeJwt(token);
    expect(() => verifyJwt(decoded, "server")).not.toThrow();
    expect(decoded.claims.iss).toBe(server.getPublicKey());
    const [h, , s] = token.split(".");
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...decoded.claims, sub: "AEVIL" })).toString("base64url")}.${s}`;
    expect(() => verifyJwt(decodeJwt(forged), "server")).toThrow(/bad signature/);
  });

  it("opens what nkeys.js seals and seals what nkeys.js opens", () => {
    const serviceSeed = dec.decode(createCurve().getSeed());
    const service = XKey.fromSeed(serviceSeed);
    const server = createCurve();
    const message = new TextEncoder().encode("eyJhbGciOiJlZDI1NTE5LW5rZXkifQ.payload.sig");
    const sealedByNkeys = server.seal(message, service.publicKey);
    expect(dec.decode(service.open(sealedByNkeys, server.getPublicKey()) as Uint8Array)).toBe(dec.decode(message));
    const sealedByUs = service.seal(message, server.getPublicKey());
    const reference = fromCurveSeed(new TextEncoder().encode(serviceSeed));
    expect(reference.getPublicKey()).toBe(service.publicKey);
    expect(dec.decode(server.open(sealedByUs, service.publicKey) as Uint8Array)).toBe(dec.decode(message));
  });

  it("refuses to open a box from another sender or with flipped bytes", () => {
    const service = XKey.fromSeed(dec.decode(createCurve().getSeed()));
    const server = createCurve();
    const sealed = server.seal(new TextEncoder().encode("secret"), service.publicKey);
    expect(service.open(sealed, createCurve().getPublicKey())).toBeNull();
    const flipped = Uint8Array.from(sealed);
    flipped[flipped.length - 1] = (flipped[flipped.length - 1] as number) ^ 1;
    expect(service.open(flipped, server.getPublicKey())).toBeNull();
    expect(service.open(sealed.subarray(0, 30), server.getPublicKey())).toBeNull();
    expect(service.open(sealed, "not-a-key")).toBeNull();
  });
});
