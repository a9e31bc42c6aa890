// The natsflow service under test: @AuthCallout() over the users directory. Configured by env (see run.ts).
import "reflect-metadata";

import { AuthCallout, authCalloutConfig, AuthError, type Authorizer, type AuthRequest, type Grant } from "@natsflow/auth-callout";
import { createLogger, NatsApp } from "@natsflow/core";

import { makeDirectory, passwordMatches, permissionsFor } from "../directory.js";

class Directory {
  readonly users = makeDirectory();
}

@AuthCallout()
class DirectoryAuthorizer implements Authorizer {
  constructor(private readonly directory: Directory) {}

  authorize(req: AuthRequest): Grant {
    const name = req.username ?? "";
    const user = this.directory.users.get(name);
    if (!user || !passwordMatches(user.pass, req.password)) throw new AuthError("invalid credentials");
    return { account: user.account, name, permissions: permissionsFor(name) };
  }
}

const env = process.env;
const app = await NatsApp.create({
  servers: env.NATS_URL as string,
  user: env.NATS_USER as string,
  pass: env.NATS_PASSWORD as string,
  controllers: [DirectoryAuthorizer],
  providers: [Directory, authCalloutConfig({ issuerSeed: env.ISSUER_SEED as string, xkeySeed: env.XKEY_SEED })],
  logger: createLogger({ level: "warn" }),
});
await app.start();
process.on("message", (m) => {
  if (m === "usage") process.send?.({ cpu: process.cpuUsage(), memory: process.memoryUsage() });
});
process.send?.("ready");
process.once("SIGTERM", () => void app.stop().then(() => process.exit(0)));
