import "reflect-metadata";

import { AuthCallout, AuthCalloutConfig, authCalloutConfig, type Authorizer, type Grant } from "@natsflow/auth-callout";
import { defineRouter, NatsApp, SetupError } from "@natsflow/core";
import { TestBroker, newAccountKey, newCurveKey } from "@natsflow/testing";
import { createUser } from "nkeys.js";
import { describe, expect, it } from "vitest";

const account = newAccountKey();
const curve = newCurveKey();
const userSeed = new TextDecoder().decode(createUser().getSeed());

function setupError(fn: () => unknown): SetupError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(SetupError);
    return e as SetupError;
  }
  throw new Error("expected a SetupError");
}

describe("callout configuration fails at start-up, naming the setting and the fix", () => {
  it("accepts an account issuer seed and a curve xkey seed", () => {
    const config = AuthCalloutConfig.from({ issuerSeed: account.seed, xkeySeed: curve.seed });
    expect(config.issuer.publicKey).toBe(account.publicKey);
    expect(config.xkey?.publicKey).toBe(curve.publicKey);
  });

  it("requires issuerSeed", () => {
    const e = setupError(() => AuthCalloutConfig.from({ issuerSeed: "" }));
    expect(e.setting).toBe("issuerSeed");
    expect(e.message).toMatch(/^issuerSeed: is required\. Fix: use the seed of an account nkey/);
  });

  it("reads NATS_CALLOUT_ISSUER_SEED and NATS_CALLOUT_XKEY_SEED when the options leave the seeds out, naming them in errors", () => {
    const config = AuthCalloutConfig.from({ env: { NATS_CALLOUT_ISSUER_SEED: account.seed, NATS_CALLOUT_XKEY_SEED: curve.seed } });
    expect(config.issuer.publicKey).toBe(account.publicKey);
    expect(config.xkey?.publicKey).toBe(curve.publicKey);
    // An explicit option wins over its variable.
    expect(AuthCalloutConfig.from({ issuerSeed: account.seed, xkeySeed: undefined, env: { NATS_CALLOUT_ISSUER_SEED: userSeed } }).issuer.publicKey).toBe(account.publicKey);
    expect(setupError(() => AuthCalloutConfig.from({ env: {} })).message).toMatch(/^NATS_CALLOUT_ISSUER_SEED: is required\./);
    const wrong = setupError(() => AuthCalloutConfig.from({ env: { NATS_CALLOUT_ISSUER_SEED: account.seed, NATS_CALLOUT_XKEY_SEED: userSeed } }));
    expect(wrong.setting).toBe("NATS_CALLOUT_XKEY_SEED");
    expect(wrong.message).not.toContain(userSeed);
    expect(AuthCalloutConfig.from({ env: false, issuerSeed: account.seed }).xkey).toBeUndefined();
  });

  it("rejects a seed of the wrong kind without echoing it", () => {
    const e = setupError(() => AuthCalloutConfig.from({ issuerSeed: userSeed }));
    expect(e.message).toMatch(/issuerSeed: expected an account seed \("SA…"\), got one starting "SU"/);
    expect(e.message).not.toContain(userSeed);
    const x = setupError(() => AuthCalloutConfig.from({ issuerSeed: account.seed, xkeySeed: account.seed }));
    expect(x.setting).toBe("xkeySeed");
    expect(x.message).not.toContain(account.seed);
  });

  it("rejects a malformed seed and a public key given as a seed", () => {
    const mangled = `${account.seed.slice(0, -3)}AAA`;
    const e = setupError(() => AuthCalloutConfig.from({ issuerSeed: mangled }));
    expect(e.message).toMatch(/issuerSeed: malformed seed/);
    expect(e.message).not.toContain(mangled);
    expect(setupError(() => AuthCalloutConfig.from({ issuerSeed: account.publicKey })).message).toMatch(/not an nkey seed/);
  });

  it("rejects non-positive timeouts", () => {
    expect(setupError(() => AuthCalloutConfig.from({ issuerSeed: account.seed, timeoutMs: 0 })).setting).toBe("timeoutMs");
    expect(setupError(() => AuthCalloutConfig.from({ issuerSeed: account.seed, serverTimeoutMs: 150 })).message).toMatch(/serverTimeoutMs.*leaves no time after deadlineMarginMs/);
  });

  it("an @AuthCallout() app without callout keys fails at create", async () => {
    @AuthCallout()
    class Lonely implements Authorizer {
      authorize(): Grant {
        return { account: "APP", permissions: "all" };
      }
    }
    await expect(NatsApp.create({ transport: new TestBroker().transport, controllers: [Lonely] })).rejects.toThrow(
      /providers: an @AuthCallout\(\) class needs the callout keys.*Fix: add authCalloutConfig/,
    );
    const app = await NatsApp.create({
      transport: new TestBroker().transport,
      controllers: [Lonely],
      providers: [authCalloutConfig({ issuerSeed: account.seed })],
    });
    expect(app.handlers).toEqual([{ name: "Lonely.authorize", subject: "$SYS.REQ.USER.AUTH", queue: "natsflow-auth-callout" }]);
    // Listed as a provider, it would never be subscribed.
    await expect(NatsApp.create({ transport: new TestBroker().transport, providers: [authCalloutConfig({ issuerSeed: account.seed }), Lonely] })).rejects.toThrow(
      /^providers\[1\] \(Lonely\): has handlers .*Fix: move Lonely to controllers\.$/,
    );
  });

  it("refuses an @AuthCallout() class in a prefixed router, naming the router and the fix; one without a prefix serves the fixed subject", async () => {
    @AuthCallout()
    class Routed implements Authorizer {
      authorize(): Grant {
        return { account: "APP", permissions: "all" };
      }
    }
    const providers = [authCalloutConfig({ issuerSeed: account.seed })];
    const prefixed = defineRouter({ prefix: "auth", controllers: [Routed] });
    const refused = await NatsApp.create({ transport: new TestBroker().transport, providers, routers: [defineRouter({ prefix: "outer", routers: [prefixed] })] }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(refused).toBeInstanceOf(SetupError);
    expect((refused as Error).message).toMatch(
      /^routers\[0\] \(outer\) > routers\[0\] \(auth\) > Routed\.authorize: listens on the fixed subject \$SYS\.REQ\.USER\.AUTH, which the prefix "outer\.auth" would change.*Fix: list Routed in the app's controllers, or in a router without a prefix\.$/,
    );
    const app = await NatsApp.create({ transport: new TestBroker().transport, providers, routers: [defineRouter({ controllers: [Routed] })] });
    expect(app.handlers.map((h) => h.subject)).toEqual(["$SYS.REQ.USER.AUTH"]);
  });

  it("@AuthCallout() on a class without authorize fails at decoration", () => {
    expect(() => {
      // @ts-expect-error -- the point: it does not implement Authorizer
      @AuthCallout()
      class NoAuthorize {}
      return NoAuthorize;
    }).toThrow(/@AuthCallout\(\) on NoAuthorize: the class has no authorize\(request\) method/);
  });
});

describe("operator mode configuration", () => {
  const app = newAccountKey();
  const signing = newAccountKey();

  it("maps account names and public keys to their signing keys", () => {
    const config = AuthCalloutConfig.from({
      issuerSeed: account.seed,
      operator: {
        accounts: {
          APP: { publicKey: app.publicKey, signingKeySeed: signing.seed },
          APP_SCOPED: { publicKey: app.publicKey, signingKeySeed: account.seed, scoped: true },
        },
      },
    });
    expect(config.mode.kind).toBe("operator");
    if (config.mode.kind !== "operator") return;
    expect(config.mode.calloutAccount).toBe(account.publicKey);
    expect(config.audienceKey).toBe(account.publicKey);
    expect(config.responseIssuerAccount).toBeUndefined();
    expect(config.mode.accounts.get("APP")?.signer.publicKey).toBe(signing.publicKey);
    expect(config.mode.accounts.get(app.publicKey)?.name).toBe("APP");
    expect(config.mode.accounts.get("APP_SCOPED")?.scoped).toBe(true);
  });

  it("sets issuer_account on responses when a signing key of the callout account signs them", () => {
    const config = AuthCalloutConfig.from({
      issuerSeed: signing.seed,
      operator: { calloutAccount: account.publicKey, accounts: { APP: { publicKey: app.publicKey, signingKeySeed: app.seed } } },
    });
    expect(config.responseIssuerAccount).toBe(account.publicKey);
    expect(config.audienceKey).toBe(account.publicKey);
  });

  it("names the bad setting", () => {
    expect(setupError(() => AuthCalloutConfig.from({ issuerSeed: account.seed, operator: { accounts: {} } })).setting).toBe("operator.accounts");
    expect(
      setupError(() => AuthCalloutConfig.from({ issuerSeed: account.seed, operator: { accounts: { APP: { publicKey: "nope", signingKeySeed: app.seed } } } })).setting,
    ).toBe("operator.accounts.APP.publicKey");
    expect(
      setupError(() => AuthCalloutConfig.from({ issuerSeed: account.seed, operator: { accounts: { APP: { publicKey: app.publicKey, signingKeySeed: curve.seed } } } })).setting,
    ).toBe("operator.accounts.APP.signingKeySeed");
    expect(
      setupError(() => AuthCalloutConfig.from({ issuerSeed: account.seed, operator: { calloutAccount: curve.publicKey, accounts: { APP: { publicKey: app.publicKey, signingKeySeed: app.seed } } } })).setting,
    ).toBe("operator.calloutAccount");
  });
});
