// Load for the handler benchmark, from its own process: request/reply or publish.
import { connect } from "nats";

const [url, kind, n, c] = process.argv.slice(2) as [string, string, string, string];
const total = Number(n);
const nc = await connect({ servers: url });
const payload = new TextEncoder().encode(JSON.stringify({ id: 42, item: "tea", qty: 2, note: "x".repeat(64) }));
if (kind === "request") {
  for (let i = 0; i < 500; i++) await nc.request("bench.echo", payload, { timeout: 5000 });
  let next = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: Number(c) }, async () => {
    while (next++ < total) await nc.request("bench.echo", payload, { timeout: 5000 });
  }));
  console.log(JSON.stringify({ perSecond: total / ((performance.now() - started) / 1000) }));
} else {
  for (let i = 0; i < total; i++) {
    nc.publish("bench.events", payload);
    // Let the socket drain now and then, as a steady producer would.
    if (i % 1000 === 999) await nc.flush();
  }
  await nc.flush();
  console.log(JSON.stringify({ published: total }));
}
await nc.close();
