import { mkdir, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";

import { BATCH } from "./jetstream-setup.js";

export interface ConnectResult {
  scenario: string;
  connects: number;
  concurrency: number;
  perSecond: number;
  p50: number;
  p99: number;
  failures: number;
  /** Slowest and fastest round, connects/s. */
  range?: [number, number];
  /** Over this concurrency's rounds. */
  cpu?: ConnectCpu;
}

/** CPU from /proc over a scenario's rounds: per admitted client (service, a database) and per connect (nats-server), ms. */
export interface ConnectCpu {
  serviceMsPerAuth?: number;
  /** The service's main thread alone: the event loop (JavaScript, PGlite's WebAssembly), without libuv's threadpool. */
  mainThreadMsPerAuth?: number;
  /** A database server's processes (PostgreSQL: the postmaster's backends). */
  databaseMsPerAuth?: number;
  serverMsPerConnect: number;
}

/** One case of the scale-out bench under `natsflow run --workers N`; CPU per operation over all rounds. */
export interface ScaleResult {
  case: string;
  workers: number;
  /** Median over rounds, and the range. */
  perSecond: number;
  min: number;
  max: number;
  /** Median per second ÷ the first worker count's median (1 worker by default). */
  speedup: number;
  failures: number;
  /** The primary and its workers, from /proc. */
  workerCpuMsPerOp: number;
  /** Cores the workers kept busy while loaded: the median rate × worker CPU per operation. */
  workerCores: number;
  serverCpuMsPerOp: number;
  /** The load generator's own CPU (process.cpuUsage() in each load process). */
  generatorCpuMsPerOp: number;
  /** 1-minute load average when the case started. */
  loadAverage: number;
  /** The same work in N plain processes, no NATS (median of rounds), and its ratio to the first N: the machine's ceiling. */
  ceilingPerSecond?: number;
  ceilingSpeedup?: number;
}

export interface BenchResults {
  environment: Record<string, unknown>;
  connect: ConnectResult[];
  /** Service CPU (user + system, from /proc) per admitted client, over all connect rounds. */
  cpuMsPerAuthorization: Record<string, number>;
  /** nats-server CPU per connect attempt, for scale: the service is one of three processes sharing the cores. */
  serverCpuMsPerConnect: Record<string, number>;
  memory?: {
    authorizations: number;
    cpuMsPerAuthorization: number;
    before: { rss: number; heapUsed: number };
    after: { rss: number; heapUsed: number };
  };
  /** Rates are medians over rounds; CPU is the service's, µs per message, from /proc (median over rounds). */
  handlers: Array<{ mode: "raw" | "natsflow"; requestsPerSecond: number; publishesPerSecond: number; requestCpuUs: number; publishCpuUs: number }>;
  /** "batch": a batch `@Consume` (BATCH messages a call); it publishes nothing of its own. */
  jetstream: Array<{ mode: "raw" | "natsflow" | "batch"; consumesPerSecond: number; publishesPerSecond?: number }>;
  startup: StartupResult[];
  scale: ScaleResult[];
  /** Section 7: the examples as shipped against callout.go, same run. */
  shipped?: {
    results: ConnectResult[];
    cpu: Record<string, ConnectCpu>;
    /** 1-minute load average before each round of alternation, and at the end. */
    loadAverage: number[];
    /** Users in the users-db directory. */
    users: number;
    /** CPUs of this machine: what the password hashes can use at most. */
    cores: number;
    postgresSkipped?: boolean;
  };
}

/** One app in one mode over the rounds: every round's figure, so the report gives medians and ranges. */
export interface StartupResult {
  app: string;
  handlers: number;
  mode: "raw" | "natsflow";
  /** Spawn to the first answer on the subject subscribed last, ms. */
  startMs: number[];
  /** RSS in bytes at that moment, after the idle, and after a full GC. */
  rssStart: number[];
  rssIdle: number[];
  rssGc: number[];
  loadavg?: { before: number[]; after: number[] };
}

const OUT = fileURLToPath(new URL("../results/", import.meta.url));
const mib = (b: number) => (b / 2 ** 20).toFixed(1);
const JETSTREAM_ROWS = { raw: "raw nats consume / js.publish", natsflow: "natsflow @Consume / broker.jetstream.publish", batch: `natsflow @Consume, batches of ${BATCH}` } as const;

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  ")).join("\n");
}

function chart(r: BenchResults): string {
  const bars = r.connect.map((c) => ({ label: `${c.scenario} C=${c.concurrency}`, value: c.perSecond }));
  const max = Math.max(...bars.map((b) => b.value), 1);
  const rowH = 26;
  const rows = bars
    .map((b, i) => {
      const w = Math.max(2, (b.value / max) * 420);
      const y = 30 + i * rowH;
      return `<text x="8" y="${y + 15}" font-size="12">${b.label.replace(/&/g, "&amp;").replace(/</g, "&lt;")}</text><rect x="330" y="${y + 3}" width="${w.toFixed(1)}" height="16" fill="#2a7"/><text x="${(336 + w).toFixed(1)}" y="${y + 15}" font-size="12">${b.value.toFixed(0)}/s</text>`;
    })
    .join("");
  return `<svg xmlns="http://www.w3.org/2000/svg" width="860" height="${40 + bars.length * rowH}" font-family="sans-serif"><text x="8" y="18" font-size="14" font-weight="bold">Connects per second (higher is better)</text>${rows}</svg>\n`;
}

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
export const median = (xs: number[]) => sorted(xs)[Math.floor(xs.length / 2)] ?? 0;
const spread = (xs: number[], f: (x: number) => string) => `${f(median(xs))} (${f(sorted(xs)[0] ?? NaN)}–${f(sorted(xs).at(-1) ?? NaN)})`;

function startupLines(rows: StartupResult[]): string[] {
  const find = (app: string, mode: string) => rows.find((x) => x.app === app && x.mode === mode);
  const ms = (x: number) => x.toFixed(0);
  const lines = [
    `5. start-up and memory (spawn → first answer on the last subject; RSS then, after the idle, after a full GC; median (min–max); load average ${rows[0]?.loadavg?.before.map((l) => l.toFixed(2)).join(" ")} → ${rows[0]?.loadavg?.after.map((l) => l.toFixed(2)).join(" ")})`,
    table([
      ["app", "", "start-up ms", "RSS MiB at start", "after idle", "after GC"],
      ...rows.map((x) => [x.app, x.mode, spread(x.startMs, ms), spread(x.rssStart, mib), spread(x.rssIdle, mib), spread(x.rssGc, mib)]),
    ]),
  ];
  for (const app of new Set(rows.map((x) => x.app))) {
    const [raw, nf] = [find(app, "raw"), find(app, "natsflow")];
    if (!raw || !nf) continue;
    const limit = 1.5 * median(raw.startMs) + 100;
    lines.push(
      `${app}: start-up ${(median(nf.startMs) / median(raw.startMs)).toFixed(2)}× raw (+${ms(median(nf.startMs) - median(raw.startMs))} ms; target ≤ 1.5× raw + 100 ms = ${ms(limit)} ms: ${median(nf.startMs) <= limit ? "met" : "NOT met"}), ` +
        `RSS after idle +${mib(median(nf.rssIdle) - median(raw.rssIdle))} MiB over raw (after GC +${mib(median(nf.rssGc) - median(raw.rssGc))})`,
    );
  }
  // Growth: the cost of one more handler between consecutive generated sizes; linear keeps it flat.
  const generated = rows.filter((x) => x.app.startsWith("generated")).sort((a, b) => a.handlers - b.handlers);
  for (const mode of ["raw", "natsflow"] as const) {
    const sizes = generated.filter((x) => x.mode === mode);
    const steps = sizes.slice(1).map((x, i) => {
      const prev = sizes[i] as StartupResult;
      const n = x.handlers - prev.handlers;
      return `${prev.handlers}→${x.handlers}: ${((median(x.startMs) - median(prev.startMs)) / n).toFixed(3)} ms and ${((median(x.rssIdle) - median(prev.rssIdle)) / n / 1024).toFixed(1)} KiB per handler`;
    });
    if (steps.length > 0) lines.push(`growth, ${mode}: ${steps.join("; ")}`);
  }
  return lines;
}

function shippedLines(shipped: NonNullable<BenchResults["shipped"]>): string[] {
  const go = (c: number) => shipped.results.find((x) => x.scenario.startsWith("callout.go") && x.concurrency === c)?.perSecond;
  const ms = (x: number | undefined) => x?.toFixed(3) ?? "–";
  const loads = shipped.loadAverage;
  const lines = [
    `7. the callout as shipped (examples as their READMEs run them, decision logs on; users-db over ${shipped.users} users; median of rounds (min–max); load average ${Math.min(...loads).toFixed(2)}–${Math.max(...loads).toFixed(2)})`,
    table([
      // CPU over the rounds at that concurrency, per admitted client (per connect for the server).
      ["scenario", "C", "N", "connects/s", "range", "p50 ms", "p99 ms", "failures", "× callout.go", "service CPU ms/auth", "main thread", "other threads", "database CPU ms/auth", "server CPU ms/connect"],
      ...shipped.results.map((c) => {
        const cpu = c.cpu;
        const rate = go(c.concurrency);
        const others = cpu?.serviceMsPerAuth !== undefined && cpu.mainThreadMsPerAuth !== undefined ? cpu.serviceMsPerAuth - cpu.mainThreadMsPerAuth : undefined;
        return [
          c.scenario,
          String(c.concurrency),
          String(c.connects),
          c.perSecond.toFixed(0),
          c.range ? `${c.range[0].toFixed(0)}–${c.range[1].toFixed(0)}` : "–",
          c.p50.toFixed(1),
          c.p99.toFixed(1),
          String(c.failures),
          rate ? (c.perSecond / rate).toFixed(2) : "–",
          ms(cpu?.serviceMsPerAuth),
          // Node.js only: Go's goroutines are not pinned to one thread, the split means nothing there.
          ms(cpu?.mainThreadMsPerAuth),
          ms(others),
          ms(cpu?.databaseMsPerAuth),
          ms(cpu?.serverMsPerConnect),
        ];
      }),
    ]),
  ];
  // Where a login's CPU goes, over all rounds: a verification on the threadpool bounds the rate at cores ÷ its cost.
  for (const [name, cpu] of Object.entries(shipped.cpu)) {
    if (!name.includes("users-db") || cpu.serviceMsPerAuth === undefined || cpu.mainThreadMsPerAuth === undefined) continue;
    const hashing = cpu.serviceMsPerAuth - cpu.mainThreadMsPerAuth;
    lines.push(
      `${name}, CPU per admitted login: ${hashing.toFixed(2)} ms off the main thread (argon2id), ${cpu.mainThreadMsPerAuth.toFixed(2)} ms on it` +
        `${cpu.databaseMsPerAuth !== undefined ? `, ${cpu.databaseMsPerAuth.toFixed(2)} ms in PostgreSQL` : ""}; the hashes alone bound it at ≈ ${((shipped.cores * 1000) / hashing).toFixed(0)}/s on ${shipped.cores} cores`,
    );
  }
  if (!shipped.results.some((c) => c.scenario.startsWith("callout.go"))) lines.push("(callout.go not run: set CALLOUT_GO_BIN to a service built by ../shared/go-peer/build.sh)");
  if (shipped.postgresSkipped) lines.push("(users-db on PostgreSQL skipped: no PostgreSQL found, see above)");
  lines.push(
    "callout.go compares alice's plain password; users-file compares SHA-256 digests of plain passwords (its README: plain text, as in the NATS example); users-db verifies an argon2id hash (19456 KiB, 2 passes) on libuv's threadpool, in \"other threads\".",
  );
  return lines;
}

/** Prints the tables and writes results/latest.json and results/connects.svg. */
/** Every target the benchmarks carry, against this run's figures: one line each, for the sections that ran. */
function targetLines(r: BenchResults): string[] {
  const out: string[] = [];
  const verdict = (label: string, value: number, limit: number, shown: string, atMost = false) =>
    out.push(`${label}: ${shown} — ${(atMost ? value <= limit : value >= limit) ? "met" : "NOT met"}`);
  const ratio = (a: number, b: number) => a / b;
  for (const c of [20, 100]) {
    const nf = r.connect.find((x) => x.scenario.startsWith("natsflow") && x.concurrency === c);
    const go = r.connect.find((x) => x.scenario.startsWith("callout.go") && x.concurrency === c);
    if (nf && go) verdict(`@AuthCallout ≥ 1.1× callout.go at C=${c}`, ratio(nf.perSecond, go.perSecond), 1.1, `${ratio(nf.perSecond, go.perSecond).toFixed(2)}×`);
  }
  const raw = r.handlers.find((h) => h.mode === "raw");
  const nf = r.handlers.find((h) => h.mode === "natsflow");
  if (raw && nf) {
    verdict("@Subscribe events ≥ 0.8× the raw callback", ratio(nf.publishesPerSecond, raw.publishesPerSecond), 0.8, `${ratio(nf.publishesPerSecond, raw.publishesPerSecond).toFixed(2)}×`);
    verdict("@Subscribe request/reply ≥ 0.95× raw", ratio(nf.requestsPerSecond, raw.requestsPerSecond), 0.95, `${ratio(nf.requestsPerSecond, raw.requestsPerSecond).toFixed(2)}×`);
  }
  const jsRaw = r.jetstream.find((j) => j.mode === "raw");
  const jsNf = r.jetstream.find((j) => j.mode === "natsflow");
  const jsBatch = r.jetstream.find((j) => j.mode === "batch");
  if (jsRaw && jsNf) verdict("@Consume ≥ 1.2× the raw consume loop", ratio(jsNf.consumesPerSecond, jsRaw.consumesPerSecond), 1.2, `${ratio(jsNf.consumesPerSecond, jsRaw.consumesPerSecond).toFixed(2)}×`);
  if (jsNf && jsBatch) verdict("batch @Consume ≥ 1.5× the per-message @Consume", ratio(jsBatch.consumesPerSecond, jsNf.consumesPerSecond), 1.5, `${ratio(jsBatch.consumesPerSecond, jsNf.consumesPerSecond).toFixed(2)}×`);
  const app = (mode: string) => r.startup.find((x) => x.handlers === 100 && x.app.startsWith("generated") && x.mode === mode);
  const [sRaw, sNf] = [app("raw"), app("natsflow")];
  if (sRaw && sNf) {
    const limit = 1.5 * median(sRaw.startMs) + 100;
    verdict("start-up ≤ 1.5× raw + 100 ms at 100 handlers", median(sNf.startMs), limit, `${median(sNf.startMs).toFixed(0)} ms against ${limit.toFixed(0)} ms`, true);
    const extra = (median(sNf.rssIdle) - median(sRaw.rssIdle)) / 2 ** 20;
    verdict("RSS ≤ raw + 30 MiB at 100 handlers, idle", extra, 30, `+${extra.toFixed(1)} MiB`, true);
  }
  for (const row of r.shipped?.results ?? []) {
    if (row.scenario.startsWith("callout.go")) continue;
    const go = r.shipped?.results.find((x) => x.scenario.startsWith("callout.go") && x.concurrency === row.concurrency);
    if (go) verdict(`${row.scenario} ≥ 1.1× callout.go at C=${row.concurrency}`, ratio(row.perSecond, go.perSecond), 1.1, `${ratio(row.perSecond, go.perSecond).toFixed(2)}×`);
  }
  const cpu = r.scale.find((x) => x.case.startsWith("CPU") && x.workers === 2);
  if (cpu) verdict("--workers 2 ≥ 1.6× --workers 1, CPU-bound handler", cpu.speedup, 1.6, `${cpu.speedup.toFixed(2)}× (bare work: ${cpu.ceilingSpeedup?.toFixed(2) ?? "–"}×)`);
  return out.length > 0 ? ["targets (this run):", ...out.map((l) => `  ${l}`)] : [];
}

export async function writeReport(r: BenchResults): Promise<void> {
  const staticRate = (c: number) => r.connect.find((x) => x.scenario.startsWith("static") && x.concurrency === c)?.perSecond ?? NaN;
  const staticP99 = (c: number) => r.connect.find((x) => x.scenario.startsWith("static") && x.concurrency === c)?.p99 ?? NaN;
  const natsflowRate = (c: number) => r.connect.find((x) => x.scenario.startsWith("natsflow") && x.concurrency === c)?.perSecond ?? NaN;
  const goRate = (c: number) => r.connect.find((x) => x.scenario.startsWith("callout.go") && x.concurrency === c)?.perSecond;
  const lines = [
    `environment: ${JSON.stringify(r.environment)}`,
    "",
    "1. connect throughput (connect + close, from a separate process; median of rounds)",
    table([
      ["scenario", "C", "N", "connects/s", "p50 ms", "p99 ms", "failures", "× static", "p99 × static", "service CPU ms/auth", "server CPU ms/connect"],
      ...r.connect.map((c) => [
        c.scenario,
        String(c.concurrency),
        String(c.connects),
        c.perSecond.toFixed(0),
        c.p50.toFixed(1),
        c.p99.toFixed(1),
        String(c.failures),
        (c.perSecond / staticRate(c.concurrency)).toFixed(2),
        (c.p99 / staticP99(c.concurrency)).toFixed(2),
        r.cpuMsPerAuthorization[c.scenario]?.toFixed(3) ?? "–",
        r.serverCpuMsPerConnect[c.scenario]?.toFixed(3) ?? "–",
      ]),
    ]),
    "",
    ...r.connect
      .filter((c) => c.scenario.startsWith("natsflow") && goRate(c.concurrency))
      .map((c) => `natsflow vs callout.go at C=${c.concurrency}: ${(c.perSecond / (goRate(c.concurrency) as number)).toFixed(2)}× the connects/s`),
    ...(r.connect.length === 0 || r.connect.some((c) => c.scenario.startsWith("callout.go")) ? [] : ["(callout.go not run: set CALLOUT_GO_BIN to a service built by ../shared/go-peer/build.sh)"]),
    ...r.connect
      .filter((c) => c.scenario.startsWith("hand-rolled"))
      .map((c) =>
        c.perSecond > 0
          ? `natsflow vs hand-rolled at C=${c.concurrency}: ${(natsflowRate(c.concurrency) / c.perSecond).toFixed(0)}×`
          : `natsflow vs hand-rolled at C=${c.concurrency}: the reference admitted no client (${c.failures}/${c.connects} failed)`,
      ),
    "",
    r.memory
      ? `2. ${r.memory.authorizations} authorizations in memory: ${r.memory.cpuMsPerAuthorization.toFixed(3)} ms CPU each; ` +
        `RSS ${mib(r.memory.before.rss)} → ${mib(r.memory.after.rss)} MiB (${(((r.memory.after.rss - r.memory.before.rss) / r.memory.before.rss) * 100).toFixed(1)}%), ` +
        `heap ${mib(r.memory.before.heapUsed)} → ${mib(r.memory.after.heapUsed)} MiB`
      : "2. (not run)",
    "",
    "3. handler overhead (trivial JSON handler, same payload)",
    table([
      ["", "request/reply per s", "publish per s", "service CPU µs/request", "service CPU µs/event"],
      ...r.handlers.map((h) => [
        h.mode === "raw" ? "raw nats subscription" : "natsflow @Subscribe",
        h.requestsPerSecond.toFixed(0),
        h.publishesPerSecond.toFixed(0),
        h.requestCpuUs.toFixed(2),
        h.publishCpuUs.toFixed(2),
      ]),
    ]),
  ];
  const raw = r.handlers.find((h) => h.mode === "raw");
  const nf = r.handlers.find((h) => h.mode === "natsflow");
  if (raw && nf) lines.push(`@Subscribe / raw: request/reply ${(nf.requestsPerSecond / raw.requestsPerSecond).toFixed(2)}, publish ${(nf.publishesPerSecond / raw.publishesPerSecond).toFixed(2)}`);
  lines.push(
    "",
    "4. JetStream (JSON orders; consume: decode + ack, 64 in flight (batch: 100 a call); publish: PubAck awaited, 64 at once)",
    table([
      ["", "consumed per s", "published per s"],
      ...r.jetstream.map((j) => [JETSTREAM_ROWS[j.mode], j.consumesPerSecond.toFixed(0), j.publishesPerSecond?.toFixed(0) ?? "—"]),
    ]),
  );
  const jsRaw = r.jetstream.find((j) => j.mode === "raw");
  const jsNf = r.jetstream.find((j) => j.mode === "natsflow");
  if (jsRaw && jsNf) lines.push(`natsflow / raw: consume ${(jsNf.consumesPerSecond / jsRaw.consumesPerSecond).toFixed(2)}, publish ${((jsNf.publishesPerSecond ?? 0) / (jsRaw.publishesPerSecond ?? 1)).toFixed(2)}`);
  const jsBatch = r.jetstream.find((j) => j.mode === "batch");
  if (jsNf && jsBatch) lines.push(`batch / per-message @Consume: consume ${(jsBatch.consumesPerSecond / jsNf.consumesPerSecond).toFixed(2)}`);
  if (r.startup.length > 0) lines.push("", ...startupLines(r.startup));
  if (r.scale.length > 0) {
    lines.push(
      "",
      "6. scale-out: natsflow run --workers N (median of rounds; CPU per operation over all rounds, from /proc and the load processes)",
      table([
        ["case", "workers", "per s", "range", "× first", "failures", "worker CPU ms/op", "per worker-CPU-s", "worker cores busy", "server CPU ms/op", "generator CPU ms/op", "bare work per s", "bare × first", "load avg"],
        ...r.scale.map((x) => [
          x.case,
          String(x.workers),
          x.perSecond.toFixed(0),
          `${x.min.toFixed(0)}–${x.max.toFixed(0)}`,
          x.speedup.toFixed(2),
          String(x.failures),
          x.workerCpuMsPerOp.toFixed(3),
          (1000 / x.workerCpuMsPerOp).toFixed(0),
          x.workerCores.toFixed(2),
          x.serverCpuMsPerOp.toFixed(3),
          x.generatorCpuMsPerOp.toFixed(3),
          x.ceilingPerSecond?.toFixed(0) ?? "–",
          x.ceilingSpeedup?.toFixed(2) ?? "–",
          x.loadAverage.toFixed(2),
        ]),
      ]),
    );
  }
  if (r.shipped) lines.push("", ...shippedLines(r.shipped));
  lines.push("", ...targetLines(r));
  console.log(lines.join("\n"));
  await mkdir(OUT, { recursive: true });
  await writeFile(`${OUT}latest.json`, `${JSON.stringify(r, null, 2)}\n`);
  await writeFile(`${OUT}connects.svg`, chart(r));
  console.log(`\nwrote ${OUT}latest.json and ${OUT}connects.svg`);
}
