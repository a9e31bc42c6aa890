// An @AuthCallout service with an OpenTelemetry SDK registered: each request is a span with the
// decision and its reason kind; no credential, token or JWT reaches a span (the secret scan reads them).
import "reflect-metadata";

import { SpanStatusCode } from "@opentelemetry/api";
import { AuthCallout, AuthError, type Authorizer, type AuthRequest, type Grant } from "@natsflow/auth-callout";
import { captureLogs, captureSpans, createCalloutHarness, registerSecret } from "@natsflow/testing";
import { expect, it } from "vitest";

const PASSWORD = "correct-horse-battery";
const TOKEN = "tok-0123456789-secret";

@AuthCallout()
class Gate implements Authorizer {
  authorize(req: AuthRequest): Grant {
    if (req.username === "ann" && req.password === PASSWORD) return { account: "APP", permissions: "all" };
    if (req.token === TOKEN) return { account: "APP", permissions: "all" };
    throw new AuthError("invalid credentials");
  }
}

it("puts the decision and reason kind on the callout's span, and no credential", async () => {
  registerSecret(PASSWORD);
  registerSecret(TOKEN);
  registerSecret("wrong-password-here");
  const spans = captureSpans();
  const h = await createCalloutHarness({ controllers: [Gate], logger: captureLogs("fatal").logger });
  try {
    const granted = await h.authorize({ user: "ann", pass: PASSWORD });
    expect(granted.userJwt).toBeDefined();
    registerSecret(granted.userJwt);
    expect((await h.authorize({ token: TOKEN })).userJwt).toBeDefined();
    expect((await h.authorize({ user: "ann", pass: "wrong-password-here" })).error).toBe("invalid credentials");
    const callouts = spans.find(/^process \$SYS\.REQ\.USER\.AUTH$/);
    expect(callouts.map((s) => [s.attributes["natsflow.auth.decision"], s.attributes["natsflow.auth.reason_kind"]])).toEqual([
      ["grant", "granted"],
      ["grant", "granted"],
      ["deny", "denied"],
    ]);
    expect(callouts[0]?.attributes).toMatchObject({ "messaging.system": "nats", "natsflow.auth.account": "APP", "natsflow.handler": "Gate.authorize" });
    // A denial is the callout's answer, not a failed operation.
    expect(callouts.every((s) => s.status.code !== SpanStatusCode.ERROR)).toBe(true);
  } finally {
    await h.stop();
  }
});
