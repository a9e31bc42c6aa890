/**
 * Routers, run against the in-memory TestBroker and against a real nats-server with JetStream
 * (routers.memory.test.ts, routers.server.test.ts): three levels of routers with middleware and
 * providers at each, composed subjects in replies, AsyncAPI and `$SRV.INFO`, router errors by path.
 */
import "reflect-metadata";

import { Parser } from "@asyncapi/parser";
import {
  Consume,
  Controller,
  defineRouter,
  defineStream,
  inject,
  injectable,
  NatsApp,
  Param,
  SetupError,
  Subscribe,
  Use,
  type Middleware,
  type NatsAppOptions,
  type NatsMiddleware,
  type Next,
  type MessageContext,
  type Transport,
} from "@natsflow/core";
import { captureLogs } from "@natsflow/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import type { SuiteEnvironment } from "./handler-suite.js";


const enc = new TextEncoder();
const dec = new TextDecoder();

const trail: string[] = [];
const mark =
  (label: string): Middleware =>
  async (_ctx, next) => {
    trail.push(label);
    await next();
  };

/** App level. */
@injectable()
class Clock {
  readonly made = "app-clock";
}

/** Billing level: depends on the app's Clock and billing's own currency. */
@injectable()
class BillingService {
  constructor(
    readonly clock: Clock,
    @inject("currency") readonly currency: string,
  ) {}
}

/** Invoices level, a middleware class made in the invoices router's container: it sees invoices' region. */
@injectable()
class InvoicesAudit implements NatsMiddleware {
  constructor(@inject("region") private readonly region: string) {}
  async use(_ctx: MessageContext, next: Next) {
    trail.push(`invoices(${this.region})`);
    await next();
  }
}

/** Lines level: depends on BillingService (two levels up) and the region invoices shadows. */
@injectable()
class LineFormatter {
  constructor(
    readonly billing: BillingService,
    @inject("region") readonly region: string,
  ) {}
}

/** Invoices level, one per message. */
@injectable()
class RequestStamp {
  constructor(@inject("region") readonly region: string) {}
}

/** Invoices level: what a test swaps for a fake. */
@injectable()
class InvoiceRepository {
  find(id: string) {
    return { id, status: "open" };
  }
}

@Controller()
class InvoiceController {
  constructor(
    private readonly billing: BillingService,
    private readonly repository: InvoiceRepository,
  ) {}
  @Subscribe("{id}.get")
  get(@Param("id") id: string) {
    return { ...this.repository.find(id), currency: this.billing.currency };
  }
  @Subscribe("audit", { queue: "auditors" })
  audit() {
    return "audited";
  }
}

@Controller("scoped", { scope: "message" })
class ScopedController {
  constructor(private readonly stamp: RequestStamp) {}
  @Subscribe("region")
  region() {
    return this.stamp.region;
  }
}

@Controller("v1")
@Use(mark("controller"))
class LineController {
  constructor(private readonly format: LineFormatter) {}
  @Subscribe("{line}.get")
  @Use(mark("method"))
  get(@Param("line") line: string) {
    const { billing, region } = this.format;
    return { line, region, currency: billing.currency, clock: billing.clock.made };
  }
}

const JOBS = defineStream({ name: "ROUTER_JOBS", subjects: ["billing.jobs.>"] });
const ran: string[] = [];

@Controller("jobs")
class JobController {
  @Consume("run", { stream: JOBS, durable: "router-jobs" })
  run(payload: { job: string }) {
    ran.push(payload.job);
  }
}

@Controller()
class NeedsMissing {
  constructor(@inject("nowhere") readonly nothing: string) {}
  @Subscribe("x")
  x() {}
}

function routers() {
  const lines = defineRouter({
    prefix: "lines",
    queue: "lines",
    tags: ["lines"],
    controllers: [LineController],
    middleware: [mark("lines")],
    providers: [LineFormatter],
  });
  const invoices = defineRouter({
    prefix: "invoices",
    tags: ["invoices"],
    controllers: [InvoiceController, ScopedController],
    subscriptions: [{ subject: "{id}.total", handle: (_payload: unknown, ctx: MessageContext) => ({ subject: ctx.message.subject, total: 3 }) }],
    middleware: [InvoicesAudit],
    providers: [InvoiceRepository, { provide: "region", useValue: "invoices-region" }, { provide: RequestStamp, useClass: RequestStamp, scope: "message" }],
    routers: [lines],
  });
  const billing = defineRouter({
    prefix: "billing",
    queue: "billing",
    tags: ["billing"],
    controllers: [JobController],
    middleware: [mark("billing")],
    providers: [BillingService, { provide: "currency", useValue: "EUR" }],
    routers: [invoices],
  });
  return [billing];
}

export function routerSuite(name: string, setup: () => Promise<SuiteEnvironment>): void {
  describe(`routers on ${name}`, () => {
    let env: SuiteEnvironment;
    let client: Transport;
    let app: NatsApp;

    beforeAll(async () => {
      env = await setup();
      client = await env.client();
      app = await NatsApp.create({
        ...env.appOptions(),
        logger: captureLogs("warn").logger,
        middleware: [mark("app")],
        providers: [Clock, { provide: "region", useValue: "app-region" }],
        routers: routers(),
        service: { name: "billing", version: "1.0.0" },
      });
      await app.start();
    });
    afterAll(async () => {
      await app?.stop();
      await client?.close();
      await env?.stop();
    });

    const ask = async (subject: string) => JSON.parse(dec.decode((await client.request(subject, enc.encode("{}"), { timeoutMs: 5000 })).data)) as unknown;

    it("serves composed subjects three routers deep, with each level's providers and the nearest one first", async () => {
      expect(await ask("billing.invoices.42.get")).toEqual({ id: "42", status: "open", currency: "EUR" });
      expect(await ask("billing.invoices.lines.v1.7.get")).toEqual({ line: "7", region: "invoices-region", currency: "EUR", clock: "app-clock" });
      // A message-scoped controller is made in a child of its router's container.
      expect(await ask("billing.invoices.scoped.region")).toBe("invoices-region");
      // A function handler of a router, like app.subscribe.
      expect(await ask("billing.invoices.7.total")).toEqual({ subject: "billing.invoices.7.total", total: 3 });
    });

    it("runs middleware app → outer router → inner router → controller @Use → method @Use", async () => {
      trail.length = 0;
      await ask("billing.invoices.lines.v1.7.get");
      expect(trail).toEqual(["app", "billing", "invoices(invoices-region)", "lines", "controller", "method"]);
    });

    it("gives the nearest router's queue to subscriptions that name none, and none to a consumer", () => {
      const queues = Object.fromEntries(app.handlers.map((h) => [h.name, { subject: h.subject, queue: h.queue }]));
      expect(queues).toEqual({
        "JobController.run": { subject: "billing.jobs.run", queue: undefined },
        "InvoiceController.get": { subject: "billing.invoices.*.get", queue: "billing" },
        "InvoiceController.audit": { subject: "billing.invoices.audit", queue: "auditors" },
        "ScopedController.region": { subject: "billing.invoices.scoped.region", queue: "billing" },
        "billing.invoices.{id}.total": { subject: "billing.invoices.*.total", queue: "billing" },
        "LineController.get": { subject: "billing.invoices.lines.v1.*.get", queue: "lines" },
      });
    });

    it("prefixes a consumer's filter subject", async () => {
      await app.broker.jetstream.publish("billing.jobs.run", { job: "invoice-run" });
      const until = Date.now() + 10_000;
      while (!ran.includes("invoice-run") && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      expect(ran).toEqual(["invoice-run"]);
    });

    it("lists the composed subjects, queues and tags in the AsyncAPI document the parser accepts", async () => {
      const { document, diagnostics } = await new Parser().parse(JSON.stringify(await app.asyncapi()));
      expect(diagnostics.filter((d) => d.severity === 0)).toEqual([]);
      const addresses = document?.channels().all().map((c) => c.address());
      expect(addresses).toEqual(
        expect.arrayContaining(["billing.jobs.run", "billing.invoices.{id}.get", "billing.invoices.audit", "billing.invoices.scoped.region", "billing.invoices.{id}.total", "billing.invoices.lines.v1.{line}.get"]),
      );
      const line = document?.operations().all().find((o) => o.id() === "LineController_get");
      expect(line?.tags().all().map((t) => t.name())).toEqual(["billing", "invoices", "lines"]);
      expect(line?.channels().all()[0]?.parameters().all().map((p) => p.id())).toEqual(["line"]);
    });

    it("lists the composed subjects and queues in $SRV.INFO", async () => {
      const info = (await ask("$SRV.INFO.billing")) as { endpoints: Array<{ subject: string; queue_group: string }> };
      expect(info.endpoints.map((e) => [e.subject, e.queue_group])).toEqual([
        ["billing.invoices.*.get", "billing"],
        ["billing.invoices.audit", "auditors"],
        ["billing.invoices.scoped.region", "billing"],
        ["billing.invoices.*.total", "billing"],
        ["billing.invoices.lines.v1.*.get", "lines"],
      ]);
    });

    it("names the router path in start-up errors", async () => {
      const nested = defineRouter({ prefix: "billing", routers: [defineRouter({ prefix: "x" }), defineRouter({ prefix: "invoices", controllers: [NeedsMissing] })] });
      const error = await NatsApp.create({ ...env.appOptions(), routers: [nested] }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SetupError);
      expect((error as Error).message).toContain("routers[0] (billing) > routers[1] (invoices) > controllers[0] (NeedsMissing)");
      const notRouter = await NatsApp.create({ ...env.appOptions(), routers: [{ prefix: "billing" } as never] }).catch((e: unknown) => e);
      expect((notRouter as Error).message).toContain("routers[0]");
      expect((notRouter as Error).message).toContain("defineRouter");
    });
    it("replaces providers by token in the app and inside a router with overrides, and refuses one that replaces nothing", async () => {
      const fakeRepository = { find: (id: string) => ({ id, status: "fake" }) };
      const overridden = await NatsApp.create(
        { ...env.appOptions(), logger: captureLogs("warn").logger, providers: [Clock, { provide: "region", useValue: "app-region" }], routers: routers() },
        { overrides: [{ provide: InvoiceRepository, useValue: fakeRepository }, { provide: Clock, useValue: { made: "fake-clock" } }] },
      );
      expect(overridden.container.resolve(Clock).made).toBe("fake-clock");
      // Last in the suite: the first app makes way, so the overridden one answers every request.
      await app.stop();
      await overridden.start();
      try {
        expect(await ask("billing.invoices.42.get")).toEqual({ id: "42", status: "fake", currency: "EUR" });
        expect(await ask("billing.invoices.lines.v1.7.get")).toMatchObject({ clock: "fake-clock" });
      } finally {
        await overridden.stop();
      }
      const typo = await NatsApp.create({ ...env.appOptions(), providers: [Clock, { provide: "region", useValue: "app-region" }], routers: routers() }, { overrides: [{ provide: "regoin", useValue: "x" }] }).catch((e: unknown) => e);
      expect(typo).toBeInstanceOf(SetupError);
      expect((typo as Error).message).toContain("overrides (regoin)");
    });

  });
}
