/**
 * Hostile authorization requests, generated with fast-check: garbage, broken encodings, wrong
 * signatures and claims, tampered boxes. None of them may ever be granted.
 */
import { randomBytes } from "node:crypto";

import { Ed25519Signer } from "@natsflow/auth-callout";
import type { FakeCalloutServer } from "@natsflow/testing";
import { newCurveKey, FakeCalloutServer as Fake } from "@natsflow/testing";
import fc from "fast-check";

export interface HostileRequest {
  kind: string;
  data: Uint8Array;
  headers?: Record<string, string> | undefined;
}

const BIG_KINDS = new Set([6, 7]);
const b64 = (s: string | Uint8Array) => Buffer.from(s).toString("base64url");
const HEADER = b64(JSON.stringify({ typ: "JWT", alg: "ed25519-nkey" }));

/** Never the credentials the test authorizer accepts, so a reachable authorizer still denies. */
const hostileClient = fc.record({
  user: fc.option(fc.string({ maxLength: 40 }), { nil: undefined }),
  pass: fc.option(fc.string({ maxLength: 40 }), { nil: undefined }),
  token: fc.option(fc.string({ maxLength: 60 }), { nil: undefined }),
});

export function hostileRequests(server: FakeCalloutServer, serviceXkey: string | undefined): fc.Arbitrary<HostileRequest> {
  const otherServer = new Fake({ issuer: "AB", xkey: newCurveKey().publicKey });
  const sealedHeaders = () => (serviceXkey ? server.mint({ user: "x" }).headers : undefined);
  const minted = (tamper: Parameters<FakeCalloutServer["mint"]>[0]) => server.mint(tamper);
  const token = (claims: unknown, header = HEADER, signer: Ed25519Signer | undefined = server.key) => {
    const body = b64(JSON.stringify(claims));
    const sig = signer ? signer.sign(Buffer.from(`${header}.${body}`)) : randomBytes(64);
    return new TextEncoder().encode(`${header}.${body}.${b64(sig)}`);
  };
  const kinds: Array<fc.Arbitrary<HostileRequest>> = [
    fc.uint8Array({ maxLength: 4096 }).map((data) => ({ kind: "random bytes", data })),
    fc.uint8Array({ maxLength: 2048 }).map((data) => ({ kind: "random box", data: Uint8Array.from([...Buffer.from("xkv1"), ...data]), headers: sealedHeaders() })),
    fc.tuple(hostileClient, fc.nat()).map(([c, cut]) => {
      const m = minted(c);
      return { kind: "truncated", data: m.data.subarray(0, cut % Math.max(1, m.data.length)), headers: m.headers };
    }),
    fc.tuple(hostileClient, fc.nat(), fc.integer({ min: 1, max: 255 })).map(([c, at, bit]) => {
      const m = minted(c);
      const data = Uint8Array.from(m.data);
      const i = at % data.length;
      data[i] = (data[i] as number) ^ bit;
      return { kind: "flipped byte", data, headers: m.headers };
    }),
    fc.string({ maxLength: 300 }).map((s) => ({ kind: "bad base64", data: new TextEncoder().encode(`eyJ${s}.${s}.${s}`) })),
    fc.jsonValue().filter((v) => v === null || typeof v !== "object" || Array.isArray(v)).map((v) => ({ kind: "JSON not an object", data: token(v) })),
    fc.integer({ min: 1000, max: 50_000 }).map((depth) => ({ kind: "deep nesting", data: new TextEncoder().encode(`${HEADER}.${b64("[".repeat(depth) + "]".repeat(depth))}.${b64(randomBytes(64))}`) })),
    fc.integer({ min: 100_000, max: 600_000 }).map((size) => ({ kind: "huge claims", data: minted({ user: "x".repeat(size) }).data, headers: sealedHeaders() })),
    fc.constantFrom("HS256", "none", "ed25519", "RS256", "").map((alg) => ({
      kind: "wrong alg",
      data: token(server.mint({ seal: false }).claims, b64(JSON.stringify({ typ: "JWT", alg }))),
    })),
    fc.constantFrom("JWS", "jwt", "x").map((typ) => ({ kind: "wrong typ", data: token(server.mint({ seal: false }).claims, b64(JSON.stringify({ typ, alg: "ed25519-nkey" }))) })),
    hostileClient.map((c) => ({ kind: "missing/random signature", data: token(minted({ ...c, seal: false }).claims, HEADER, undefined) })),
    fc.tuple(hostileClient, fc.constantFrom("iss", "aud", "sub", "type", "exp", "nbf", "server_id", "user_nkey")).map(([c, field]) => {
      const m = minted({
        ...c,
        tamper: (claims) => {
          const now = Math.floor(Date.now() / 1000);
          if (field === "iss") claims.iss = Ed25519Signer.generate("server").publicKey;
          if (field === "aud") claims.aud = "not-a-request";
          if (field === "sub") claims.sub = Ed25519Signer.generate("account").publicKey;
          if (field === "type") claims.nats.type = "authorization_response";
          if (field === "exp") claims.exp = now - 5;
          if (field === "nbf") claims.nbf = now + 600;
          if (field === "server_id") claims.nats.server_id = { id: 42 };
          if (field === "user_nkey") claims.nats.user_nkey = "U-not-a-key";
        },
      });
      return { kind: `wrong ${field}`, data: m.data, headers: m.headers };
    }),
    hostileClient.map((c) => {
      const m = otherServer.mint(c);
      return { kind: "sealed to another key", data: m.data, headers: m.headers };
    }),
    hostileClient.map((c) => {
      const m = minted({ ...c, headerXkey: newCurveKey().publicKey });
      return { kind: "header xkey mismatch", data: m.data, headers: m.headers };
    }),
    hostileClient.map((c) => {
      const m = minted({ ...c, tamper: (claims) => void ((claims.nats.server_id as Record<string, unknown>).xkey = newCurveKey().publicKey) });
      return { kind: "claim xkey mismatch", data: m.data, headers: m.headers };
    }),
    hostileClient.map((c) => {
      // Plain to a service with an xkey, or sealed to one without.
      const m = serviceXkey ? minted({ ...c, seal: false }) : otherServer.mint(c);
      return { kind: "encryption mismatch", data: m.data, headers: m.headers };
    }),
    fc.record({ nats: fc.dictionary(fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 3 })) }).map((claims) => ({
      kind: "signed nonsense claims",
      data: token({ iss: server.id, aud: "nats-authorization-request", exp: Math.floor(Date.now() / 1000) + 5, ...claims }),
    })),
  ];
  // Big inputs (deep nesting, huge claims) are rarer, so 10 000 requests fit in memory.
  return fc.oneof(...kinds.map((arbitrary, i) => ({ arbitrary, weight: BIG_KINDS.has(i) ? 1 : 10 })));
}

/** A deterministic sample, with every hostile request sent twice (duplicates are part of the attack). */
export function hostileSample(server: FakeCalloutServer, serviceXkey: string | undefined, count: number, seed = 4242): HostileRequest[] {
  const unique = fc.sample(hostileRequests(server, serviceXkey), { numRuns: Math.ceil(count * 0.9), seed });
  const duplicates = unique.slice(0, count - unique.length).map((r) => ({ ...r, kind: `${r.kind} (duplicate)` }));
  return [...unique, ...duplicates];
}
