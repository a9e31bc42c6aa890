import { readFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

import { authCalloutConfig, BearerTokenVerifier } from "@natsflow/auth-callout";
import { createLogger, NatsApp, type Logger } from "@natsflow/core";
import { configModeCallout, startNatsServer, startTestIdentityProvider, type NatsServer, type TestIdentityProvider } from "@natsflow/testing";

import { BrowserAuthorizer } from "./authorizer.js";

const PUBLIC = fileURLToPath(new URL("../public/", import.meta.url));
// The nats.ws ES module bundle, served as-is to the page.
const NATS_WS = createRequire(import.meta.url).resolve("nats.ws").replace(/cjs[/\\]nats\.js$/, "esm/nats.js");
const DEMO_USERS = new Set(["alice", "bob"]);

export interface BrowserDemo {
  /** The page. */
  url: string;
  nats: NatsServer;
  idp: TestIdentityProvider;
  app: NatsApp;
  stop(): Promise<void>;
}

/**
 * nats-server with a WebSocket listener on loopback, a local identity provider, the callout service,
 * and a small web server for the page: `/login` plays the identity provider's login and returns a token.
 */
export async function startBrowserDemo(options: { httpPort?: number; logger?: Logger } = {}): Promise<BrowserDemo> {
  const idp = await startTestIdentityProvider();
  const setup = configModeCallout({ xkey: true });
  const nats = await startNatsServer({ config: { ...setup.serverConfig, websocket: { host: "127.0.0.1", port: -1, no_tls: true } } });
  const app = await NatsApp.create({
    servers: nats.url,
    ...setup.serviceUser,
    controllers: [BrowserAuthorizer],
    providers: [
      { provide: BearerTokenVerifier, useValue: new BearerTokenVerifier({ issuer: idp.issuer, audience: idp.audience, jwksUrl: idp.jwksUrl }) },
      authCalloutConfig(setup.callout),
    ],
    logger: options.logger ?? createLogger(),
  });
  await app.start();

  const files: Record<string, [string, string]> = {
    "/": [`${PUBLIC}index.html`, "text/html"],
    "/app.js": [`${PUBLIC}app.js`, "text/javascript"],
    "/nats.ws.js": [NATS_WS, "text/javascript"],
  };
  const http: Server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? "/", "http://x");
      if (url.pathname === "/config.json") {
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ websocket: nats.websocketUrl }));
      } else if (url.pathname === "/login") {
        const user = url.searchParams.get("user") ?? "";
        if (!DEMO_USERS.has(user)) return void res.writeHead(403).end("unknown user");
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ token: await idp.sign({ sub: user }, { exp: "15m" }) }));
      } else if (files[url.pathname]) {
        const [file, type] = files[url.pathname] as [string, string];
        res.writeHead(200, { "content-type": type }).end(await readFile(file));
      } else {
        res.writeHead(404).end();
      }
    })().catch(() => res.writeHead(500).end());
  });
  await new Promise<void>((r) => http.listen(options.httpPort ?? 0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/`,
    nats,
    idp,
    app,
    stop: async () => {
      await new Promise<void>((r) => http.close(() => r()));
      await app.stop();
      await nats.stop();
      await idp.close();
    },
  };
}
