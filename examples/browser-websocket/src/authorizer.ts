import { AuthCallout, BearerTokenVerifier, grantFromClaims, type Authorizer, type AuthRequest, type Grant } from "@natsflow/auth-callout";
import { inject } from "@natsflow/core";

/** What a browser user may do: their own subjects, nothing else. */
export const BROWSER_GRANT: Grant = {
  account: "APP",
  name: "{sub}",
  permissions: {
    pub: { allow: ["users.{sub}.>"] },
    sub: { allow: ["users.{sub}.>", "_INBOX.>"] },
  },
  allowedConnectionTypes: ["WEBSOCKET"],
  expiresInSeconds: 900,
};

/** Browser clients log in with an OIDC access token; the user JWT expires with it. */
@AuthCallout()
export class BrowserAuthorizer implements Authorizer {
  constructor(@inject(BearerTokenVerifier) private readonly tokens: BearerTokenVerifier) {}

  async authorize(req: AuthRequest): Promise<Grant> {
    // allowedConnectionTypes: ["WEBSOCKET"] is enforced by natsflow (nats-server 2.10 does not for callout users).
    return grantFromClaims(await this.tokens.verify(req.token), BROWSER_GRANT);
  }
}
