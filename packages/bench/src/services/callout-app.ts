// The natsflow service under test: @AuthCallout() over the users directory. Configured by env (see
// run.ts). Started on its own by natsflow-callout.ts, or by `natsflow run --workers N` (scale-out).
import "reflect-metadata";

import { AuthCallout, authCalloutConfig, AuthError, type Authorizer, type AuthRequest, type Grant } from "@natsflow/auth-callout";
import { createLogger, NatsApp } from "@natsflow/core";

import { makeDirectory, passwordMatches, permissionsFor } from "../directory.js";

const env = process.env;
const delayMs = Number(env.DELAY_MS ?? 0);

class Directory {
  readonly users = makeDirectory();
}

@AuthCallout({
  ...(env.AUTH_CONCURRENCY ? { concurrency: Number(env.AUTH_CONCURRENCY) } : {}),
  ...(env.AUTH_MAX_PENDING ? { maxPending: Number(env.AUTH_MAX_PENDING) } : {}),
})
class DirectoryAuthorizer implements Authorizer {
  constructor(private readonly directory: Directory) {}

  async authorize(req: AuthRequest): Promise<Grant> {
    // Fault tests make authorizations slow on purpose, to have some in flight.
    if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
    const name = req.username ?? "";
    const user = this.directory.users.get(name);
    if (!user || !passwordMatches(user.pass, req.password)) throw new AuthError("invalid credentials");
    return { account: user.account, name, permissions: permissionsFor(name) };
  }
}

export default function calloutApp(): Promise<NatsApp> {
  return NatsApp.create({
    servers: (env.NATS_URL as string).split(","),
    user: env.NATS_USER as string,
    pass: env.NATS_PASSWORD as string,
    controllers: [DirectoryAuthorizer],
    providers: [Directory, authCalloutConfig({ issuerSeed: env.NATS_CALLOUT_ISSUER_SEED as string, xkeySeed: env.NATS_CALLOUT_XKEY_SEED })],
    // Decision logs at info by default, as in production; LOG_LEVEL=warn turns them off.
    logger: createLogger(),
  });
}
