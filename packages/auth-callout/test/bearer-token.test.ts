import { BearerTokenVerifier, grantFromClaims, grantTemplate } from "@natsflow/auth-callout";
import { SetupError } from "@natsflow/core";
import { startTestIdentityProvider, type TestIdentityProvider } from "@natsflow/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ISSUER = "https://idp.natsflow.test";
const AUDIENCE = "nats";

describe("BearerTokenVerifier", () => {
  let idp: TestIdentityProvider;

  beforeAll(async () => {
    idp = await startTestIdentityProvider({ issuer: ISSUER, audience: AUDIENCE });
  });
  afterAll(() => idp?.close());

  const verifier = (over: Partial<ConstructorParameters<typeof BearerTokenVerifier>[0]> = {}) =>
    new BearerTokenVerifier({ issuer: ISSUER, audience: AUDIENCE, jwksUrl: idp.jwksUrl, jwksCooldownMs: 60_000, ...over });

  it("verifies a token against the JWKS and returns its claims", async () => {
    const claims = await verifier().verify(await idp.sign({ sub: "alice", email: "a@x.test" }));
    expect(claims).toMatchObject({ sub: "alice", iss: ISSUER });
  });

  it("rejects expired, foreign-issuer, wrong-audience, tampered and malformed tokens with clear reasons", async () => {
    const v = verifier();
    await expect(v.verify(await idp.sign({ sub: "a" }, { exp: Math.floor(Date.now() / 1000) - 120 }))).rejects.toThrow("bearer token expired");
    await expect(v.verify(await idp.sign({ sub: "a" }, { iss: "https://evil.test" }))).rejects.toThrow(/bearer token rejected: iss/);
    await expect(v.verify(await idp.sign({ sub: "a" }, { aud: "other" }))).rejects.toThrow(/bearer token rejected: aud/);
    const good = await idp.sign({ sub: "a" });
    const [h, , s] = good.split(".");
    const forged = `${h}.${Buffer.from(JSON.stringify({ sub: "root", iss: ISSUER, aud: AUDIENCE, exp: 9999999999 })).toString("base64url")}.${s}`;
    await expect(v.verify(forged)).rejects.toThrow("bearer token signature invalid");
    await expect(v.verify("not.a.jwt")).rejects.toThrow(/malformed/);
    await expect(v.verify(undefined)).rejects.toThrow("no bearer token presented");
  });

  it("a reconnect storm with unknown key ids fetches the JWKS at most once per cooldown", async () => {
    const v = verifier();
    idp.state.fetches = 0;
    const tokens = await Promise.all(Array.from({ length: 50 }, () => idp.sign({ sub: "x" }, { kid: "rotated-away" })));
    const results = await Promise.allSettled(tokens.map((t) => v.verify(t)));
    expect(results.every((r) => r.status === "rejected")).toBe(true);
    expect(idp.state.fetches).toBeLessThanOrEqual(2);
  });

  it("a provider that is down or serves garbage is refused, not crashed on, and recovers", async () => {
    idp.state.mode = "down";
    await expect(verifier().verify(await idp.sign({ sub: "a" }))).rejects.toThrow("identity provider keys unavailable");
    idp.state.mode = "garbage";
    await expect(verifier().verify(await idp.sign({ sub: "a" }))).rejects.toThrow("identity provider keys unavailable");
    idp.state.mode = "ok";
    await expect(verifier().verify(await idp.sign({ sub: "a" }))).resolves.toMatchObject({ sub: "a" });
  });

  it("fails at start-up on bad settings", () => {
    expect(() => new BearerTokenVerifier({ issuer: "", audience: "a", jwksUrl: idp.jwksUrl })).toThrow(SetupError);
    expect(() => new BearerTokenVerifier({ issuer: ISSUER, audience: "a" })).toThrow(/bearer\.jwksUrl/);
    expect(() => new BearerTokenVerifier({ issuer: ISSUER, audience: "a", jwksUrl: "not a url" })).toThrow(/bearer\.jwksUrl: is not a URL/);
  });
});

describe("grant templates", () => {
  const template = {
    account: "APP",
    name: "{sub}",
    permissions: { pub: { allow: ["users.{sub}.>"] }, sub: { allow: ["users.{sub}.>", "_INBOX.>"], deny: ["users.{sub}.secret"] } },
    tags: ["tenant:{tenant}"],
    expiresInSeconds: 3600,
  };

  it("renders placeholders from claims", () => {
    const grant = grantTemplate(template).render({ sub: "alice", tenant: "t1" });
    expect(grant.permissions).toEqual({ pub: { allow: ["users.alice.>"] }, sub: { allow: ["users.alice.>", "_INBOX.>"], deny: ["users.alice.secret"] } });
    expect(grant.name).toBe("alice");
    expect(grant.tags).toEqual(["tenant:t1"]);
  });

  it("refuses values that would widen a permission, and missing values", () => {
    expect(() => grantTemplate(template).render({ sub: "a.>", tenant: "t" })).toThrow(/cannot be used in a subject/);
    expect(() => grantTemplate(template).render({ sub: "*", tenant: "t" })).toThrow(/cannot be used in a subject/);
    expect(() => grantTemplate(template).render({ sub: "alice" })).toThrow(/uses \{tenant\}, which has no value/);
  });

  it("refuses a template the callout would not understand, naming the key; keeps \"all\"", () => {
    const typo = { ...template, permissions: { ...template.permissions, subscribe: { allow: ["users.{sub}.>"] } } };
    expect(() => grantTemplate(typo).render({ sub: "alice", tenant: "t" })).toThrow(/^invalid grant: permissions\.subscribe: unknown key; did you mean "sub"\?$/);
    expect(grantTemplate({ ...template, permissions: "all" }).render({ sub: "alice", tenant: "t" }).permissions).toBe("all");
  });

  it("a grant from a token never outlives the token", () => {
    const now = Date.now();
    const exp = Math.floor(now / 1000) + 300;
    const grant = grantFromClaims({ sub: "bob", tenant: "t2", exp }, template, {}, now);
    expect(grant.expiresAt?.getTime()).toBe(exp * 1000);
    expect(grant.expiresInSeconds).toBeUndefined();
    const short = grantFromClaims({ sub: "bob", tenant: "t2", exp }, { ...template, expiresInSeconds: 60 }, {}, now);
    expect(short.expiresAt?.getTime()).toBe(now + 60_000);
  });
});
