// A separate load process: N connect+close at concurrency C; prints one JSON line of results, with
// this process's own CPU over the run (the scale-out bench reports what load costs).
import { connect } from "nats";

const [url, n, c, timeoutMs, user] = process.argv.slice(2);
const total = Number(n);
const concurrency = Number(c);
let next = 0;
let failures = 0;
const latencies: number[] = [];
const started = performance.now();
const cpuBefore = process.cpuUsage();
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (next < total) {
      const i = next++;
      const t = performance.now();
      try {
        const nc = await connect({ servers: url, user: user ?? `user${i % 1000}`, pass: user ?? `pass${i % 1000}`, reconnect: false, timeout: Number(timeoutMs ?? 5000) });
        await nc.close();
        latencies.push(performance.now() - t);
      } catch {
        failures++;
      }
    }
  }),
);
const seconds = (performance.now() - started) / 1000;
const cpu = process.cpuUsage(cpuBefore);
latencies.sort((a, b) => a - b);
const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * q))] ?? 0;
console.log(JSON.stringify({ connects: total, concurrency, seconds, perSecond: latencies.length / seconds, p50: at(0.5), p99: at(0.99), failures, cpuMs: (cpu.user + cpu.system) / 1000, latencies }));
