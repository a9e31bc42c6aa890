// docs/auth-callout.md, "A callout and application handlers in one process": the callout's own login
// lands in the callout account, so handlers on that connection are out of reach for clients in APP;
// the recipe — a second NatsApp that logs in through the callout into APP — is what serves them.
import "reflect-metadata";

import { AuthCallout, authCalloutConfig, AuthError, type Authorizer, type AuthRequest, type Grant } from "@natsflow/auth-callout";
import { Controller, NatsApp, Payload, Subscribe } from "@natsflow/core";
import { captureLogs, configModeCallout, registerSecret, startNatsServer, type NatsServer } from "@natsflow/testing";
import { connect, ErrorCode, NatsError, type NatsConnection } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ALICE_PASSWORD = "alice-recipe-pw";
const SERVICE_PASSWORD = "orders-service-recipe-pw";
registerSecret(ALICE_PASSWORD);
registerSecret(SERVICE_PASSWORD);

@AuthCallout()
class RecipeAuthorizer implements Authorizer {
  authorize(req: AuthRequest): Grant {
    if (req.username === "alice" && req.password === ALICE_PASSWORD) {
      return { account: "APP", permissions: { pub: { allow: ["orders.>"] }, sub: { allow: ["_INBOX.>"] } } };
    }
    // The application's own login: it subscribes to its subjects and answers requests.
    if (req.username === "orders-service" && req.password === SERVICE_PASSWORD) {
      return { account: "APP", permissions: { sub: { allow: ["orders.>"] }, pub: { allow: ["_INBOX.>"] }, resp: { max: 1 } } };
    }
    throw new AuthError("invalid credentials");
  }
}

class OrderRepository {
  find(id: string) {
    return { id, status: "shipped" };
  }
}

@Controller("orders")
class OrdersController {
  constructor(private readonly repo: OrderRepository) {}

  @Subscribe("get")
  get(@Payload() id: string) {
    return this.repo.find(id);
  }
}

describe("a callout and application handlers in one process", () => {
  let server: NatsServer;
  let setup: ReturnType<typeof configModeCallout>;
  const logs = captureLogs();

  const calloutOptions = () => ({
    servers: server.url,
    user: setup.serviceUser.user,
    pass: setup.serviceUser.pass,
    providers: [authCalloutConfig(setup.callout)],
    logger: logs.logger,
  });
  const asAlice = () => connect({ servers: server.url, user: "alice", pass: ALICE_PASSWORD, reconnect: false });

  beforeAll(async () => {
    setup = configModeCallout();
    server = await startNatsServer({ config: setup.serverConfig });
  });
  afterAll(() => server?.stop());

  it("one app holding both: its handlers live in the callout account, and a client in APP gets no responders", async () => {
    const both = await NatsApp.create({ ...calloutOptions(), controllers: [RecipeAuthorizer, OrdersController], providers: [OrderRepository, ...calloutOptions().providers] });
    await both.start();
    let nc: NatsConnection | undefined;
    try {
      nc = await asAlice();
      const error = await nc.request("orders.get", JSON.stringify("o-1"), { timeout: 2000 }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(NatsError);
      expect((error as NatsError).code).toBe(ErrorCode.NoResponders);
    } finally {
      await nc?.close();
      await both.stop();
    }
  });

  it("two apps: the callout logs in as the auth user, the application through the callout into APP, and a client in APP reaches the handler", async () => {
    // The recipe as docs/auth-callout.md shows it.
    const callout = await NatsApp.create({ ...calloutOptions(), controllers: [RecipeAuthorizer] });
    const app = await NatsApp.create({
      servers: server.url,
      user: "orders-service",
      pass: SERVICE_PASSWORD,
      controllers: [OrdersController],
      providers: [OrderRepository],
      logger: logs.logger,
    });
    await callout.start(); // first: the application's own login goes through it
    await app.start();
    let nc: NatsConnection | undefined;
    try {
      nc = await asAlice();
      const reply = await nc.request("orders.get", JSON.stringify("o-1"), { timeout: 3000 });
      expect(JSON.parse(new TextDecoder().decode(reply.data))).toEqual({ id: "o-1", status: "shipped" });
      const granted = logs.entries().filter((r) => r.msg === "auth callout: granted").map((r) => r.user);
      expect(granted).toEqual(expect.arrayContaining(["orders-service", "alice"]));
    } finally {
      await nc?.close();
      await app.stop();
      await callout.stop();
    }
  });
});
