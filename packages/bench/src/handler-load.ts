// Load for the handler and scale-out benchmarks, from its own process: request/reply or publish.
// Prints one JSON line, with this process's own CPU (the scale-out bench reports what load costs).
import { connect } from "nats";

const [url, kind, n, c, subject = "bench.echo"] = process.argv.slice(2) as [string, string, string, string, string?];
const cpuMs = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};
const total = Number(n);
const nc = await connect({ servers: url });
const payload = new TextEncoder().encode(JSON.stringify({ id: 42, item: "tea", qty: 2, note: "x".repeat(64) }));
if (kind === "request") {
  // A warm-up, not timed (run.ts counts it in the service CPU of the scale-out bench).
  for (let i = 0; i < 500; i++) await nc.request(subject, payload, { timeout: 5000 });
  let next = 0;
  const started = performance.now();
  const cpuBefore = cpuMs();
  await Promise.all(Array.from({ length: Number(c) }, async () => {
    while (next++ < total) await nc.request(subject, payload, { timeout: 5000 });
  }));
  console.log(JSON.stringify({ perSecond: total / ((performance.now() - started) / 1000), cpuMs: cpuMs() - cpuBefore }));
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
