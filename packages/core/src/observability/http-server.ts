import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

import type { Metrics } from "./metrics.js";

export interface HttpOptions {
  port: number;
  /** Default 127.0.0.1; "0.0.0.0" to expose it. */
  host?: string;
  /** Also export Node.js process metrics (`natsflow_process_*`: CPU, memory, event loop, GC). Default false. */
  processMetrics?: boolean;
}

/** `/healthz` (the process serves), `/readyz` (subscribed and connected), `/metrics` (Prometheus). */
export async function startHttpServer(options: HttpOptions, metrics: Metrics, ready: () => boolean): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/healthz") return void res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
    if (path === "/readyz") {
      const ok = ready();
      return void res.writeHead(ok ? 200 : 503, { "content-type": "text/plain" }).end(ok ? "ready\n" : "not ready\n");
    }
    if (path === "/metrics") {
      metrics.registry.metrics().then(
        (text) => res.writeHead(200, { "content-type": metrics.registry.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host ?? "127.0.0.1", () => resolve());
  });
  return server;
}

export function httpAddress(server: Server): string {
  const a = server.address() as AddressInfo;
  return `http://${a.family === "IPv6" ? `[${a.address}]` : a.address}:${a.port}`;
}
