import { authCalloutConfig, AUTH_CALLOUT_SUBJECT, type AuthCalloutOptions } from "@natsflow/auth-callout";
import { NatsApp, RequestTimeoutError, type Constructor, type Logger, type Provider, type ServiceOptions } from "@natsflow/core";

import { TestBroker } from "../memory/test-broker.js";
import { newAccountKey, newCurveKey, type KeyPairText } from "@natsflow/devkit";
import { FakeCalloutServer, type CalloutAnswer, type MintedRequest, type MintOptions } from "./fake-server.js";

export interface CalloutHarnessOptions {
  /** The `@AuthCallout()` class under test (and any other controllers). */
  controllers: Constructor[];
  providers?: Provider[];
  /** Seal requests and answers. Default true. */
  xkey?: boolean;
  /** Settings besides the keys, e.g. `timeoutMs`. */
  callout?: Omit<AuthCalloutOptions, "issuerSeed" | "xkeySeed">;
  logger?: Logger;
  /** Answer NATS micro discovery as this service (the app option of the same name). */
  service?: ServiceOptions;
  /** Server auth timeout the fake server writes into `exp`. Default 2 s. */
  timeoutSeconds?: number;
}

export interface CalloutHarness {
  app: NatsApp;
  server: FakeCalloutServer;
  broker: TestBroker;
  issuer: KeyPairText;
  xkey: KeyPairText | undefined;
  /** Mints a request for this client, runs it through the whole pipeline, and opens the answer. */
  authorize(client?: MintOptions): Promise<CalloutAnswer>;
  /** Sends raw bytes as the server would; undefined when the service stayed silent (dropped). */
  send(request: Pick<MintedRequest, "data" | "headers">, timeoutMs?: number): Promise<Uint8Array | undefined>;
  stop(): Promise<void>;
}

/**
 * The full callout pipeline in memory: an app on the in-memory broker, fresh keys, and a fake
 * server that mints requests and checks answers like nats-server does. No server process needed.
 */
export async function createCalloutHarness(options: CalloutHarnessOptions): Promise<CalloutHarness> {
  const issuer = newAccountKey();
  const xkey = options.xkey === false ? undefined : newCurveKey();
  const broker = new TestBroker();
  const app = await NatsApp.create({
    transport: broker.transport,
    controllers: options.controllers,
    providers: [
      ...(options.providers ?? []),
      authCalloutConfig({ ...options.callout, issuerSeed: issuer.seed, xkeySeed: xkey?.seed }),
    ],
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.service ? { service: options.service } : {}),
  });
  await app.start();
  const server = new FakeCalloutServer({
    issuer: issuer.publicKey,
    xkey: xkey?.publicKey,
    ...(options.timeoutSeconds !== undefined ? { timeoutSeconds: options.timeoutSeconds } : {}),
  });
  const client = broker.connect();
  const send = async (request: Pick<MintedRequest, "data" | "headers">, timeoutMs = 3000) => {
    try {
      const reply = await client.request(AUTH_CALLOUT_SUBJECT, request.data, {
        timeoutMs,
        ...(request.headers ? { headers: request.headers } : {}),
      });
      return reply.data;
    } catch (e) {
      if (e instanceof RequestTimeoutError) return undefined;
      throw e;
    }
  };
  return {
    app,
    server,
    broker,
    issuer,
    xkey,
    send,
    async authorize(mintOptions = {}) {
      const request = server.mint(mintOptions);
      const data = await send(request);
      if (!data) throw new Error("the service did not answer");
      return server.openResponse(data, request);
    },
    async stop() {
      await client.close();
      await app.stop();
    },
  };
}
