import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

import { exportJWK, generateKeyPair, SignJWT, type JWK } from "jose";

import { registerSecret } from "@natsflow/devkit";

export interface TestIdentityProvider {
  issuer: string;
  audience: string;
  /** The JWKS endpoint. */
  jwksUrl: string;
  /** How many times the JWKS was fetched, and how the endpoint behaves: serving, down (503), or garbage. */
  state: { fetches: number; mode: "ok" | "down" | "garbage" };
  /** Issues a signed access token; `exp` is seconds since the epoch or a jose time span ("10m"). */
  sign(claims: Record<string, unknown>, options?: { kid?: string; exp?: string | number; iss?: string; aud?: string }): Promise<string>;
  close(): Promise<void>;
}

/** A local OAuth/OIDC token issuer on loopback: an ES256 key, a JWKS endpoint, and a token minter. */
export async function startTestIdentityProvider(options: { issuer?: string; audience?: string } = {}): Promise<TestIdentityProvider> {
  const issuer = options.issuer ?? "https://idp.natsflow.test";
  const audience = options.audience ?? "nats";
  const { privateKey, publicKey } = await generateKeyPair("ES256");
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid: "k1", alg: "ES256", use: "sig" };
  const state: TestIdentityProvider["state"] = { fetches: 0, mode: "ok" };
  const server: Server = createServer((_req, res) => {
    state.fetches++;
    if (state.mode === "down") return void res.writeHead(503).end();
    res.writeHead(200, { "content-type": "application/json", "access-control-allow-origin": "*" });
    res.end(state.mode === "garbage" ? "{not json" : JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
  return {
    issuer,
    audience,
    jwksUrl,
    state,
    sign: async (claims, o = {}) => {
      const token = await new SignJWT(claims)
        .setProtectedHeader({ alg: "ES256", kid: o.kid ?? "k1" })
        .setIssuer(o.iss ?? issuer)
        .setAudience(o.aud ?? audience)
        .setIssuedAt()
        .setExpirationTime(o.exp ?? "10m")
        .sign(privateKey);
      registerSecret(token);
      return token;
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
