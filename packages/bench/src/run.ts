// `npm run bench`: every measurement side by side, in one run, on this machine.
import { execFile, fork, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, openSync, readdirSync, readFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

import { configModeCallout, postgresOrSkip, resolveNatsServer, startNatsServer, startPostgres, type NatsServer } from "@natsflow/testing";
import { connect as natsConnect } from "nats";

import { BENCH_STREAM, BENCH_SUBJECTS } from "./jetstream-setup.js";
import { firstAnswer, generateApps, generatedSubject, rssOf } from "./startup.js";

import { median, writeReport, type BenchResults, type ConnectCpu, type ConnectResult, type ScaleResult, type StartupResult } from "./report.js";

const exec = promisify(execFile);
const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));
const env = process.env;
const settings = {
  connects: Number(env.BENCH_CONNECTS ?? 2000),
  referenceConnects: Number(env.BENCH_REFERENCE_CONNECTS ?? 100),
  concurrencies: (env.BENCH_CONCURRENCY ?? "20,100").split(",").map(Number),
  rounds: Number(env.BENCH_ROUNDS ?? 5),
  authorizations: Number(env.BENCH_AUTHORIZATIONS ?? 100_000),
  requests: Number(env.BENCH_REQUESTS ?? 20_000),
  publishes: Number(env.BENCH_PUBLISHES ?? 200_000),
  jetstreamMessages: Number(env.BENCH_JETSTREAM_MESSAGES ?? 20_000),
  /** A built callout.go reference service (../shared/go-peer/build.sh): run side by side when set. */
  goBinary: env.CALLOUT_GO_BIN || undefined,
  loadProcesses: Number(env.BENCH_LOAD_PROCESSES ?? 2),
  /** natsflow's decision logs: one line per authorization at info, as in production. */
  logLevel: env.BENCH_LOG_LEVEL ?? "info",
  /** Handler counts of the generated apps in the start-up section. */
  startupHandlers: (env.BENCH_STARTUP_HANDLERS ?? "10,100,1000").split(",").map(Number),
  /** How long a started app idles before its RSS is read again. */
  idleMs: Number(env.BENCH_IDLE_MS ?? 2000),
  /** Scale-out: `natsflow run --workers N` for each N; "1,2,4,8,16" on a larger machine. */
  workers: (env.BENCH_WORKERS ?? "1,2").split(",").map(Number),
  scaleRequests: Number(env.BENCH_SCALE_REQUESTS ?? 10_000),
  /** The shipped examples: users in the users-db directory, and connects a round for its rows (argon2id bound). */
  shippedUsers: Number(env.BENCH_SHIPPED_USERS ?? 100_000),
  shippedDbConnects: Number(env.BENCH_SHIPPED_DB_CONNECTS ?? 400),
};
// Linux reports process CPU in clock ticks; 100 per second on every mainstream kernel build.
const CLOCK_TICKS = 100;

const log = (line: string) => process.stderr.write(`${line}\n`);

/** A process's /proc stat fields after its name: [1] the parent's pid, [11] and [12] user and system ticks. */
const procStat = (pid: number | string) => readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];

/** User + system CPU of a process so far, in ms, from /proc (any process: node or the Go peer). */
function cpuMs(pid: number | string): number {
  const fields = procStat(pid);
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
}

/**
 * CPU of a process's main thread so far, in ms: for Node.js the event loop (JavaScript, and PGlite's
 * WebAssembly), without libuv's threadpool (password hashes) and V8's helper threads.
 */
const mainThreadCpuMs = (pid: number) => cpuMs(`${pid}/task/${pid}`);

/** Whether a process is Node.js, whose main thread is its event loop (Go's goroutines move between threads). */
const isNode = (pid: number) => readFileSync(`/proc/${pid}/comm`, "utf8").trim() === "node";

/** CPU of a process and its children so far (a `natsflow run --workers N` primary and its workers). */
function treeCpuMs(pid: number): number {
  let total = cpuMs(pid);
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (Number(procStat(entry)[1]) === pid) total += cpuMs(entry);
    } catch {
      // It exited between the listing and the read.
    }
  }
  return total;
}

interface Service {
  pid: number;
  stop(): Promise<void>;
}

async function tracked(child: ChildProcess, ready: Promise<unknown>, what: string): Promise<Service> {
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  await Promise.race([ready, exited.then(() => Promise.reject(new Error(`${what} exited during start-up`)))]);
  return {
    pid: child.pid as number,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}

// BENCH_PROFILE=<dir>: a V8 CPU profile of each Node.js service, written there when it stops.
const profileArgs = () => (env.BENCH_PROFILE ? ["--cpu-prof", `--cpu-prof-dir=${env.BENCH_PROFILE}`] : []);

/** A Node.js service of this package; its decision logs go to a file, as a log collector would take them. */
async function startNodeService(file: string, vars: Record<string, string | undefined>, logFile: string): Promise<Service> {
  const child = fork(here(file), [], { env: { ...env, ...vars }, execArgv: profileArgs(), stdio: ["ignore", openSync(logFile, "w"), "inherit", "ipc"] });
  return tracked(child, new Promise((resolve) => child.once("message", resolve)), file);
}

/** The Go reference on synadia-io/callout.go (shared/go-peer): prints "ready" once subscribed. */
async function startGoService(url: string, issuerSeed: string, xkeySeed: string): Promise<Service> {
  const child = spawn(settings.goBinary as string, [url, issuerSeed, xkeySeed], { stdio: ["ignore", "pipe", "inherit"] });
  return tracked(child, new Promise((resolve) => child.stdout?.once("data", resolve)), "callout-svc");
}

// Every login in the connect benchmark is alice/alice: the Go reference knows only her, and every
// service must get the same requests.
const LOGIN = "alice";

interface LoadRun {
  seconds: number;
  failures: number;
  cpuMs: number;
  latencies: number[];
}

/**
 * N connects at concurrency C, split over `settings.loadProcesses` load processes started together: one
 * `nats` client process needs about 1.1 ms of CPU per connect, so alone it nearly fills a core and
 * would cap every service alike.
 */
async function load(url: string, connects: number, concurrency: number): Promise<Omit<ConnectResult, "scenario"> & { generatorCpuMs: number }> {
  const parts = Math.max(1, Math.min(settings.loadProcesses, concurrency));
  const runs = await Promise.all(
    Array.from({ length: parts }, async (_, i) => {
      const n = Math.floor(connects / parts) + (i < connects % parts ? 1 : 0);
      const c = Math.floor(concurrency / parts) + (i < concurrency % parts ? 1 : 0);
      const { stdout } = await exec(process.execPath, [here("./load.js"), url, String(n), String(c), "5000", LOGIN], { maxBuffer: 1 << 22 });
      return JSON.parse(stdout) as LoadRun;
    }),
  );
  const latencies = runs.flatMap((r) => r.latencies).sort((a, b) => a - b);
  const seconds = Math.max(...runs.map((r) => r.seconds));
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * q))] ?? 0;
  const failures = runs.reduce((n, r) => n + r.failures, 0);
  const generatorCpuMs = runs.reduce((n, r) => n + r.cpuMs, 0);
  return { connects, concurrency, perSecond: latencies.length / seconds, p50: at(0.5), p99: at(0.99), failures, generatorCpuMs };
}

interface Started {
  server: NatsServer;
  service?: Service;
  /** A database server whose CPU (its process and children) is counted per authorization too. */
  database?: { pid: number };
  /** Stops what start() started besides the server and the service (a database, its files). */
  cleanUp?(): Promise<void>;
}

type Scenario = { name: string; connects: number; start(): Promise<Started> };

/**
 * The scenarios side by side, rounds alternating between them at each concurrency so that drift on a
 * shared machine hits all alike; the median round of each is reported, with the range. CPU is from
 * /proc over all rounds (warm-up excluded).
 */
async function connectRounds(scenarios: Scenario[]): Promise<{ results: ConnectResult[]; cpu: Record<string, ConnectCpu>; loadAverage: number[] }> {
  const results: ConnectResult[] = [];
  const cpu: Record<string, ConnectCpu> = {};
  const loadAverage: number[] = [];
  type Tally = { served: number; connects: number; service: number; main: number; database: number; server: number };
  const tally = (): Tally => ({ served: 0, connects: 0, service: 0, main: 0, database: 0, server: 0 });
  const perAuth = (t: Tally, s: { service?: Service; node: boolean; database?: unknown }): ConnectCpu => ({
    serverMsPerConnect: t.server / Math.max(1, t.connects),
    ...(s.service ? { serviceMsPerAuth: t.service / Math.max(1, t.served) } : {}),
    ...(s.node ? { mainThreadMsPerAuth: t.main / Math.max(1, t.served) } : {}),
    ...(s.database ? { databaseMsPerAuth: t.database / Math.max(1, t.served) } : {}),
  });
  const stacks = [];
  try {
    for (const scenario of scenarios) {
      const started = await scenario.start();
      const node = started.service !== undefined && isNode(started.service.pid);
      stacks.push({ scenario, ...started, node, rounds: new Map<number, Array<Omit<ConnectResult, "scenario">>>(), tallies: new Map<number, Tally>() });
    }
    for (const s of stacks) await load(s.server.url, Math.min(200, s.scenario.connects), 10); // warm-up
    for (const concurrency of settings.concurrencies) {
      for (let r = 0; r < settings.rounds; r++) {
        loadAverage.push(loadavg()[0] as number);
        for (const s of stacks) {
          const service = s.service?.pid;
          const before = { service: service ? cpuMs(service) : 0, main: service && s.node ? mainThreadCpuMs(service) : 0, database: s.database ? treeCpuMs(s.database.pid) : 0, server: cpuMs(s.server.pid as number) };
          const result = await load(s.server.url, s.scenario.connects, concurrency);
          const t = s.tallies.get(concurrency) ?? tally();
          s.tallies.set(concurrency, t);
          if (service) t.service += cpuMs(service) - before.service;
          if (service && s.node) t.main += mainThreadCpuMs(service) - before.main;
          if (s.database) t.database += treeCpuMs(s.database.pid) - before.database;
          t.server += cpuMs(s.server.pid as number) - before.server;
          t.served += s.scenario.connects - result.failures;
          t.connects += s.scenario.connects;
          s.rounds.set(concurrency, [...(s.rounds.get(concurrency) ?? []), result]);
          log(`  ${s.scenario.name} C=${concurrency} round ${r + 1}: ${result.perSecond.toFixed(0)}/s, ${result.failures} failures (load average ${(loadavg()[0] as number).toFixed(2)})`);
        }
      }
    }
    for (const s of stacks) {
      const all = tally();
      for (const concurrency of settings.concurrencies) {
        const rounds = s.rounds.get(concurrency) ?? [];
        const rates = rounds.map((y) => y.perSecond);
        const pick = rounds.find((x) => x.perSecond === median(rates)) ?? rounds[0];
        const t = s.tallies.get(concurrency) ?? tally();
        for (const k of Object.keys(all) as Array<keyof Tally>) all[k] += t[k];
        if (pick) results.push({ ...pick, scenario: s.scenario.name, range: [Math.min(...rates), Math.max(...rates)], cpu: perAuth(t, s) });
      }
      cpu[s.scenario.name] = perAuth(all, s);
    }
  } finally {
    for (const s of stacks) {
      await s.service?.stop();
      await s.server.stop();
      await s.cleanUp?.();
    }
  }
  loadAverage.push(loadavg()[0] as number);
  return { results, cpu, loadAverage };
}

/** The callout services all log in as auth/auth (the Go reference's fixed login), config mode, xkey on. */
function calloutSetup() {
  const setup = configModeCallout({ xkey: true });
  const config = setup.serverConfig as { accounts: Record<string, { users?: unknown[] }>; authorization: { auth_callout: { auth_users: string[] } } };
  (config.accounts.AUTH as { users?: unknown[] }).users = [{ user: "auth", password: "auth" }];
  config.authorization.auth_callout.auth_users = ["auth"];
  return setup;
}

/** A nats-server configured for the callout, its keys, and the environment a natsflow callout service reads. */
async function calloutServer(): Promise<{ server: NatsServer; setup: ReturnType<typeof calloutSetup>; vars: Record<string, string | undefined> }> {
  const setup = calloutSetup();
  const server = await startNatsServer({ config: setup.serverConfig });
  return { server, setup, vars: { NATS_URL: server.url, NATS_USER: "auth", NATS_PASSWORD: "auth", NATS_CALLOUT_ISSUER_SEED: setup.issuer.seed, NATS_CALLOUT_XKEY_SEED: setup.xkey?.seed, LOG_LEVEL: settings.logLevel } };
}

/** callout.go's service (settings.goBinary) on a server of its own. */
async function goScenarioStart(): Promise<Started> {
  const { server, setup } = await calloutServer();
  return { server, service: await startGoService(server.url, setup.issuer.seed, setup.xkey?.seed as string) };
}

const nodeScenarioStart = (service: string, logs: string): Scenario["start"] => async () => {
  const { server, vars } = await calloutServer();
  return { server, service: await startNodeService(service, vars, join(tmpdir(), logs)) };
};
const natsflowScenarioStart = nodeScenarioStart("./services/natsflow-callout.js", "natsflow-bench-decisions.log");

function scenarios(): Scenario[] {
  const list: Scenario[] = [
    { name: "static users (no callout)", connects: settings.connects, start: async () => ({ server: await startNatsServer({ config: { accounts: { APP: { users: [{ user: LOGIN, password: LOGIN }] } } } }) }) },
    { name: "natsflow @AuthCallout", connects: settings.connects, start: natsflowScenarioStart },
  ];
  if (settings.goBinary) {
    list.push({ name: "callout.go (Go reference)", connects: settings.connects, start: goScenarioStart });
  }
  list.push({ name: "hand-rolled (nats + nkeys.js + @nats-io/jwt)", connects: settings.referenceConnects, start: nodeScenarioStart("./services/hand-rolled.js", "hand-rolled-bench.log") });
  return list;
}

async function connectBench(): Promise<{ results: ConnectResult[]; cpuMsPerAuthorization: Record<string, number>; serverCpuMsPerConnect: Record<string, number> }> {
  const results: ConnectResult[] = [];
  const cpuMsPerAuthorization: Record<string, number> = {};
  const serverCpuMsPerConnect: Record<string, number> = {};
  const all = scenarios();
  const reference = all.filter((s) => s.name.startsWith("hand-rolled"));
  // Static, natsflow and Go alternate round by round, so drift on a shared machine hits them alike.
  // The reference runs alone afterwards: its backlog would steal CPU from whatever runs next to it.
  for (const group of [all.filter((s) => !reference.includes(s)), reference]) {
    const measured = await connectRounds(group);
    results.push(...measured.results);
    for (const [name, c] of Object.entries(measured.cpu)) {
      if (c.serviceMsPerAuth !== undefined) cpuMsPerAuthorization[name] = c.serviceMsPerAuth;
      serverCpuMsPerConnect[name] = c.serverMsPerConnect;
    }
  }
  results.sort((x, y) => scenarioOrder(x.scenario) - scenarioOrder(y.scenario) || x.concurrency - y.concurrency);
  return { results, cpuMsPerAuthorization, serverCpuMsPerConnect };
}

/** Polls a login as alice until the callout admits her: an example says nothing when it is ready. */
async function admitted(url: string, gaveUp: () => boolean): Promise<void> {
  for (;;) {
    try {
      const nc = await natsConnect({ servers: url, user: LOGIN, pass: LOGIN, reconnect: false, timeout: 2000 });
      await nc.close();
      return;
    } catch (e) {
      if (gaveUp()) throw new Error(`alice was never admitted: ${(e as Error).message}`);
      await sleep(100);
    }
  }
}

const exampleDir = (name: string) => here(`../../../examples/${name}/`);

/**
 * An example as its README runs it: `npm start` is `node dist/main.js` in the example's directory
 * (run here without npm, so that the pid is the service's), configured by its environment, its logs
 * (stdout) to a file. Ready once alice is admitted.
 */
async function startExample(name: string, vars: Record<string, string | undefined>, logFile: string): Promise<Service> {
  const started = performance.now();
  const child = spawn(process.execPath, [...profileArgs(), "dist/main.js"], {
    cwd: exampleDir(name),
    env: { ...env, ...vars },
    stdio: ["ignore", openSync(join(tmpdir(), logFile), "w"), "inherit"],
  });
  const gaveUp = () => child.exitCode !== null || child.signalCode !== null || performance.now() - started > 60_000;
  return tracked(child, admitted(vars.NATS_URL as string, gaveUp), `examples/${name}`).catch(async (e: unknown) => {
    if (child.exitCode === null && child.signalCode === null) await new Promise((resolve) => child.once("exit", resolve).kill("SIGKILL"));
    throw e;
  });
}

/**
 * The users-db directory before its service starts (PGlite is one process's database): alice added
 * by the admin command as the README adds a user, then filled to `settings.shippedUsers` rows.
 */
async function seedUsersDb(vars: Record<string, string | undefined>): Promise<void> {
  const options = { cwd: exampleDir("users-db"), env: { ...env, ...vars } };
  await exec(process.execPath, ["dist/admin.js", "add", LOGIN, "APP", "all"], { ...options, env: { ...options.env, USER_PASSWORD: LOGIN } });
  const { stdout } = await exec(process.execPath, [here("./seed-users-db.js"), String(settings.shippedUsers)], options);
  log(`  users-db directory: ${(JSON.parse(stdout) as { users: number }).users} users`);
}

/** users-db on a seeded directory; `database` gives its settings and what to stop afterwards. */
function usersDbScenario(name: string, logFile: string, database: () => Promise<{ vars: Record<string, string | undefined>; pid?: number; cleanUp(): Promise<void> }>): Scenario {
  return {
    name,
    connects: settings.shippedDbConnects,
    async start() {
      const db = await database();
      let server: NatsServer | undefined;
      try {
        const callout = await calloutServer();
        server = callout.server;
        const vars = { ...callout.vars, ...db.vars };
        await seedUsersDb(vars);
        const service = await startExample("users-db", vars, logFile);
        return { server, service, ...(db.pid ? { database: { pid: db.pid } } : {}), cleanUp: db.cleanUp };
      } catch (e) {
        await server?.stop();
        await db.cleanUp();
        throw e;
      }
    },
  };
}

/**
 * Section 7: the examples users scaffold, run as their READMEs run them (default configuration,
 * decision logs on), side by side with callout.go, rounds alternating.
 */
async function shippedBench(): Promise<NonNullable<BenchResults["shipped"]>> {
  const list: Scenario[] = [];
  if (settings.goBinary) list.push({ name: "callout.go (Go reference)", connects: settings.connects, start: goScenarioStart });
  // Section 1's purpose-built service beside the examples: what the examples add to it, same rounds.
  list.push({ name: "natsflow @AuthCallout (section 1's service)", connects: settings.connects, start: natsflowScenarioStart });
  list.push({
    name: "examples/users-file",
    connects: settings.connects,
    start: async () => {
      const { server, vars } = await calloutServer();
      return { server, service: await startExample("users-file", vars, "natsflow-bench-users-file.log") };
    },
  });
  list.push(
    usersDbScenario("examples/users-db on PGlite", "natsflow-bench-users-db-pglite.log", async () => {
      const dir = mkdtempSync(join(tmpdir(), "natsflow-bench-pglite-"));
      // DATABASE_URL unset: PGlite, in DATABASE_DIR (the README's default, ./users-db.data, moved to a temp dir).
      return { vars: { DATABASE_URL: undefined, DATABASE_DIR: join(dir, "users-db.data") }, cleanUp: () => rm(dir, { recursive: true, force: true }) };
    }),
  );
  // Skipped, saying why, when there is no PostgreSQL (a failure under CI, which installs it).
  const postgres = await postgresOrSkip("the shipped-callout bench");
  if (postgres) {
    list.push(
      usersDbScenario(`examples/users-db on PostgreSQL ${postgres.version}`, "natsflow-bench-users-db-postgres.log", async () => {
        const server = await startPostgres();
        return { vars: { DATABASE_URL: server.url }, pid: server.pid as number, cleanUp: () => server.stop() };
      }),
    );
  }
  // BENCH_SHIPPED_ROWS=users-db,callout.go: only the rows whose name contains one of these, for profiling one.
  const rows = env.BENCH_SHIPPED_ROWS?.split(",");
  const measured = await connectRounds(rows ? list.filter((s) => rows.some((r) => s.name.includes(r))) : list);
  return { ...measured, users: settings.shippedUsers, cores: cpus().length, ...(postgres ? {} : { postgresSkipped: true }) };
}

const scenarioOrder = (name: string) => ["static", "natsflow", "callout.go", "hand-rolled"].findIndex((p) => name.startsWith(p));

async function memoryBench(): Promise<BenchResults["memory"]> {
  const { stdout } = await exec(process.execPath, ["--expose-gc", here("./memory.js"), String(settings.authorizations)], { maxBuffer: 1 << 20 });
  return JSON.parse(stdout) as BenchResults["memory"];
}

async function handlerBench(): Promise<BenchResults["handlers"]> {
  const server = await startNatsServer();
  const modes = ["raw", "natsflow"] as const;
  const requests: Record<string, number[]> = { raw: [], natsflow: [] };
  const publishes: Record<string, number[]> = { raw: [], natsflow: [] };
  // The service's CPU per message (µs, from /proc): less swayed by other load than the rates.
  const requestCpu: Record<string, number[]> = { raw: [], natsflow: [] };
  const publishCpu: Record<string, number[]> = { raw: [], natsflow: [] };
  try {
    // Rounds alternate between the two, so drift on a shared machine hits both alike.
    for (let r = 0; r < settings.rounds; r++) {
      for (const mode of modes) {
        const child = fork(here("./services/handlers.js"), [mode, server.url], { env: { ...env, PUBLISH_COUNT: String(settings.publishes) }, stdio: ["ignore", "inherit", "inherit", "ipc"] });
        const service = await tracked(child, new Promise((resolve) => child.once("message", resolve)), "handlers service");
        try {
          const pid = child.pid as number;
          let cpu = cpuMs(pid);
          const { stdout } = await exec(process.execPath, [here("./handler-load.js"), server.url, "request", String(settings.requests), "50"]);
          requests[mode]?.push((JSON.parse(stdout) as { perSecond: number }).perSecond);
          // The load process's 500 warm-up requests count too.
          requestCpu[mode]?.push(((cpuMs(pid) - cpu) * 1000) / (settings.requests + 500));
          const done = new Promise<{ received: number; ms: number }>((resolve) => child.once("message", (m) => resolve(m as { received: number; ms: number })));
          cpu = cpuMs(pid);
          await exec(process.execPath, [here("./handler-load.js"), server.url, "publish", String(settings.publishes)]);
          const { received, ms } = await done;
          publishCpu[mode]?.push(((cpuMs(pid) - cpu) * 1000) / received);
          publishes[mode]?.push(received / (ms / 1000));
        } finally {
          await service.stop();
        }
      }
    }
  } finally {
    await server.stop();
  }
  return modes.map((mode) => {
    log(`  handlers ${mode}: request/reply ${median(requests[mode] ?? []).toFixed(0)}/s, publish ${median(publishes[mode] ?? []).toFixed(0)}/s`);
    return {
      mode,
      requestsPerSecond: median(requests[mode] ?? []),
      publishesPerSecond: median(publishes[mode] ?? []),
      requestCpuUs: median(requestCpu[mode] ?? []),
      publishCpuUs: median(publishCpu[mode] ?? []),
    };
  });
}

/**
 * `@Consume` against a raw `nats` consume loop doing the same work (decode JSON, ack), a batch
 * `@Consume` (BATCH at once) beside them, and JetStream publishing with PubAcks, raw `js.publish`
 * against `broker.jetstream.publish`. Each round fills a subject of its own with N orders (timing the
 * publishes; the batch case's with raw `js.publish`, not reported), then a fresh durable consumes them all.
 */
async function jetstreamBench(): Promise<BenchResults["jetstream"]> {
  const server = await startNatsServer({ jetstream: true });
  const modes = ["raw", "natsflow", "batch"] as const;
  const consumes: Record<string, number[]> = { raw: [], natsflow: [], batch: [] };
  const publishes: Record<string, number[]> = { raw: [], natsflow: [], batch: [] };
  try {
    const nc = await natsConnect({ servers: server.url });
    const jsm = await nc.jetstreamManager();
    await jsm.streams.add({ name: BENCH_STREAM, subjects: BENCH_SUBJECTS });
    for (let r = 0; r < settings.rounds; r++) {
      for (const mode of modes) {
        const subject = `bench.js.r${r}.${mode}`;
        const { stdout } = await exec(process.execPath, [here("./jetstream-load.js"), server.url, mode === "batch" ? "raw" : mode, subject, String(settings.jetstreamMessages)]);
        publishes[mode]?.push((JSON.parse(stdout) as { perSecond: number }).perSecond);
        const child = fork(here("./services/consumers.js"), [mode, server.url, subject, `bench-${mode}-${r}`, String(settings.jetstreamMessages)], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
        const done = new Promise<{ received: number; ms: number }>((resolve) => child.on("message", (m) => m !== "ready" && resolve(m as { received: number; ms: number })));
        const service = await tracked(child, new Promise((resolve) => child.once("message", resolve)), "consumer service");
        try {
          const { received, ms } = await done;
          consumes[mode]?.push(received / (ms / 1000));
        } finally {
          await service.stop();
        }
        // Each case consumes from a stream of the same size: a filtered consumer slows as the stream grows.
        await jsm.streams.purge(BENCH_STREAM, { filter: subject });
      }
    }
    await nc.close();
  } finally {
    await server.stop();
  }
  return modes.map((mode) => {
    if (mode === "batch") {
      log(`  jetstream batch: consume ${median(consumes[mode] ?? []).toFixed(0)}/s`);
      return { mode, consumesPerSecond: median(consumes[mode] ?? []) };
    }
    log(`  jetstream ${mode}: consume ${median(consumes[mode] ?? []).toFixed(0)}/s, publish with PubAck ${median(publishes[mode] ?? []).toFixed(0)}/s`);
    return { mode, consumesPerSecond: median(consumes[mode] ?? []), publishesPerSecond: median(publishes[mode] ?? []) };
  });
}

/**
 * Cold start: from spawning `node <app>` to the first answer to a request on the subject it subscribes
 * last (polled every ms; "no responders" until then), the same event for natsflow and raw. Then RSS
 * right away, after an idle of `idleMs`, and after a full GC (SIGUSR2 to a preload both kinds get).
 */
async function startupBench(): Promise<StartupResult[]> {
  const gen = await generateApps(settings.startupHandlers);
  const orders = { natsflow: here("../../../examples/orders/dist/main.js"), raw: here("./services/orders-raw.js") };
  const cases = [
    // The orders example as its README runs it (cwd, LOG_LEVEL info); orders.stats is subscribed last.
    { app: "orders example", handlers: 6, subject: "orders.stats", body: "", file: (mode: "raw" | "natsflow") => orders[mode], cwd: here("../../../examples/orders/") },
    ...settings.startupHandlers.map((n) => ({ app: `generated, ${n} handlers`, handlers: n, subject: generatedSubject(n - 1), body: "{}", file: (mode: "raw" | "natsflow") => gen.app(mode, n), cwd: gen.dir })),
  ];
  const results = cases.flatMap((c) => (["raw", "natsflow"] as const).map((mode): StartupResult => ({ app: c.app, handlers: c.handlers, mode, startMs: [], rssStart: [], rssIdle: [], rssGc: [] })));
  const server = await startNatsServer();
  const nc = await natsConnect({ servers: server.url });
  const loadBefore = loadavg();
  try {
    // Rounds alternate over every app and mode, so drift on a shared machine hits all alike.
    for (let r = 0; r < settings.rounds; r++) {
      for (const c of cases) {
        for (const result of results.filter((x) => x.app === c.app)) {
          const started = performance.now();
          const child = spawn(process.execPath, ["--expose-gc", "--require", gen.gcPreload, c.file(result.mode)], {
            cwd: c.cwd,
            env: { ...env, NATS_URL: server.url, LOG_LEVEL: "info" },
            stdio: ["ignore", "ignore", "inherit"],
          });
          const gaveUp = () => child.exitCode !== null || child.signalCode !== null || performance.now() - started > 30_000;
          const service = await tracked(child, firstAnswer(nc, c.subject, c.body, gaveUp), `${c.app} (${result.mode})`).catch(async (e: unknown) => {
            // Never answered: it must not outlive the bench.
            if (child.exitCode === null && child.signalCode === null) await new Promise((resolve) => child.once("exit", resolve).kill("SIGKILL"));
            throw e;
          });
          try {
            result.startMs.push(performance.now() - started);
            result.rssStart.push(rssOf(service.pid));
            await sleep(settings.idleMs);
            result.rssIdle.push(rssOf(service.pid));
            child.kill("SIGUSR2");
            await sleep(300);
            result.rssGc.push(rssOf(service.pid));
          } finally {
            await service.stop();
          }
          log(`  ${c.app} ${result.mode} round ${r + 1}: ${result.startMs.at(-1)?.toFixed(0)} ms, RSS ${((result.rssIdle.at(-1) ?? 0) / 2 ** 20).toFixed(1)} MiB`);
        }
      }
    }
  } finally {
    await nc.close();
    await server.stop();
  }
  const loadAfter = loadavg();
  return results.map((x) => ({ ...x, loadavg: { before: loadBefore, after: loadAfter } }));
}

/** `natsflow run <module> --workers N` (the CLI of this workspace); ready once every worker serves. */
async function startNatsflowRun(module: string, workers: number, vars: Record<string, string | undefined>, logFile: string): Promise<Service> {
  const cli = here("../../cli/bin/natsflow.js");
  const child = spawn(process.execPath, [cli, "run", here(module), "--workers", String(workers)], { env: { ...env, ...vars }, stdio: ["ignore", openSync(logFile, "w"), "inherit", "ipc"] });
  const ready = new Promise((resolve) => child.on("message", (m) => (m as { natsflow?: string } | undefined)?.natsflow === "ready" && resolve(m)));
  return tracked(child, ready, `natsflow run --workers ${workers}`);
}

interface ScaleCase {
  name: string;
  module: string;
  /** A server of its own for one worker count, and the app's environment. */
  start(): Promise<{ server: NatsServer; vars: Record<string, string | undefined> }>;
  /**
   * One round of load (`part` of it for the warm-up): operations timed, the ones the service handled
   * (its CPU is counted over all of them, a generator's own warm-up included), failures, generator CPU.
   */
  load(url: string, workers: number, part: number): Promise<{ ops: number; served: number; failures: number; perSecond: number; generatorCpuMs: number }>;
  /** The same work without NATS in N plain processes at once: what N cores give here (per s). */
  ceiling?(workers: number): Promise<number>;
}

/** Requests handler-load.js sends before it starts timing. */
const HANDLER_LOAD_WARM_UP = 500;

const SCALE_CASES: ScaleCase[] = [
  {
    name: "CPU-bound @Subscribe (request/reply, queue group)",
    module: "./services/cpu-bound.js",
    start: async () => {
      const server = await startNatsServer();
      return { server, vars: { NATS_URL: server.url } };
    },
    async load(url, workers, part) {
      const n = Math.ceil(settings.scaleRequests * part);
      // Enough requests in flight that no worker waits for work: 16 per worker, at least 64.
      const inFlight = Math.max(64, 16 * workers);
      const { stdout } = await exec(process.execPath, [here("./handler-load.js"), url, "request", String(n), String(inFlight), "bench.work"]);
      const r = JSON.parse(stdout) as { perSecond: number; cpuMs: number };
      return { ops: n, served: n + HANDLER_LOAD_WARM_UP, failures: 0, perSecond: r.perSecond, generatorCpuMs: r.cpuMs };
    },
    async ceiling(workers) {
      const runs = await Promise.all(Array.from({ length: workers }, () => exec(process.execPath, [here("./services/work-loop.js"), "1000"])));
      return runs.reduce((sum, { stdout }) => sum + (JSON.parse(stdout) as { perSecond: number }).perSecond, 0);
    },
  },
  {
    name: "natsflow @AuthCallout (connect + close, C=100)",
    module: "./services/callout-app.js",
    start: calloutServer,
    async load(url, _workers, part) {
      const n = Math.ceil(settings.connects * part);
      const r = await load(url, n, 100);
      return { ops: n - r.failures, served: n - r.failures, failures: r.failures, perSecond: r.perSecond, generatorCpuMs: r.generatorCpuMs };
    },
  },
];

/**
 * Scale-out: each case under `natsflow run --workers N` for every N in BENCH_WORKERS, each N on a
 * server of its own so that rounds alternate between them (drift on a shared machine hits all alike).
 * Besides throughput it reports CPU per operation of the workers (primary included), nats-server and
 * the load generator: on a machine with fewer cores than workers + server + generator need, the
 * speed-up is bound by the cores, and the per-worker rate (1000 ÷ worker CPU ms per op) is what sizes.
 */
async function scaleBench(): Promise<ScaleResult[]> {
  const results: ScaleResult[] = [];
  for (const c of SCALE_CASES) {
    const loadAverage = loadavg()[0] as number;
    const stacks: Array<{ workers: number; server: NatsServer; service: Service; rounds: number[]; ceilings: number[]; ops: number; served: number; failures: number; cpu: number; serverCpu: number; generatorCpu: number }> = [];
    const servers: NatsServer[] = [];
    try {
      for (const workers of settings.workers) {
        const { server, vars } = await c.start();
        servers.push(server);
        const service = await startNatsflowRun(c.module, workers, vars, join(tmpdir(), `natsflow-bench-scale-${workers}.log`));
        stacks.push({ workers, server, service, rounds: [], ceilings: [], ops: 0, served: 0, failures: 0, cpu: 0, serverCpu: 0, generatorCpu: 0 });
      }
      for (const s of stacks) await c.load(s.server.url, s.workers, 0.1); // warm-up
      for (let r = 0; r < settings.rounds; r++) {
        for (const s of stacks) {
          const before = { service: treeCpuMs(s.service.pid), server: cpuMs(s.server.pid as number) };
          const result = await c.load(s.server.url, s.workers, 1);
          s.cpu += treeCpuMs(s.service.pid) - before.service;
          s.serverCpu += cpuMs(s.server.pid as number) - before.server;
          s.generatorCpu += result.generatorCpuMs;
          s.ops += result.ops;
          s.served += result.served;
          s.failures += result.failures;
          s.rounds.push(result.perSecond);
          if (c.ceiling) s.ceilings.push(await c.ceiling(s.workers));
          log(`  ${c.name} --workers ${s.workers} round ${r + 1}: ${result.perSecond.toFixed(0)}/s, ${result.failures} failures${c.ceiling ? `; the bare work in ${s.workers} processes: ${s.ceilings.at(-1)?.toFixed(0)}/s` : ""}`);
        }
      }
    } finally {
      for (const s of stacks) await s.service.stop();
      for (const server of servers) await server.stop();
    }
    const base = median(stacks[0]?.rounds ?? []);
    const ceilingBase = median(stacks[0]?.ceilings ?? []);
    for (const s of stacks) {
      const perOp = (ms: number) => ms / Math.max(1, s.served);
      results.push({
        case: c.name,
        workers: s.workers,
        perSecond: median(s.rounds),
        min: Math.min(...s.rounds),
        max: Math.max(...s.rounds),
        speedup: median(s.rounds) / base,
        failures: s.failures,
        workerCpuMsPerOp: perOp(s.cpu),
        // The measured rate times what each operation cost: a wall clock around the round would count
        // the generator's start-up as idle time.
        workerCores: (median(s.rounds) * perOp(s.cpu)) / 1000,
        serverCpuMsPerOp: perOp(s.serverCpu),
        // The load processes count their CPU over the timed operations only.
        generatorCpuMsPerOp: s.generatorCpu / Math.max(1, s.ops),
        loadAverage,
        ...(s.ceilings.length > 0 ? { ceilingPerSecond: median(s.ceilings), ceilingSpeedup: median(s.ceilings) / ceilingBase } : {}),
      });
    }
  }
  return results;
}

const natsServer = await resolveNatsServer();
const environment = {
  date: new Date().toISOString(),
  node: process.version,
  natsServer: natsServer.version,
  cpu: cpus()[0]?.model ?? "unknown",
  cores: cpus().length,
  memoryGiB: Math.round(totalmem() / 2 ** 30),
  loadAverage: loadavg(),
  settings,
};
log(`natsflow bench: node ${environment.node}, nats-server ${environment.natsServer}, ${environment.cores} × ${environment.cpu}`);
// BENCH_ONLY=connect,memory,handlers,jetstream,startup,workers,shipped runs a subset, for profiling one part.
const only = new Set((env.BENCH_ONLY ?? "connect,memory,handlers,jetstream,startup,workers,shipped").split(","));
log("1. connect throughput");
const connect = only.has("connect") ? await connectBench() : { results: [], cpuMsPerAuthorization: {}, serverCpuMsPerConnect: {} };
log("2. memory and CPU over many authorizations (in memory, whole pipeline)");
const memory = only.has("memory") ? await memoryBench() : undefined;
log("3. handler overhead");
const handlers = only.has("handlers") ? await handlerBench() : [];
log("4. JetStream: @Consume and publishing with PubAcks");
const jetstream = only.has("jetstream") ? await jetstreamBench() : [];
log("5. start-up and memory");
const startup = only.has("startup") ? await startupBench() : [];
log(`6. scale-out: natsflow run --workers ${settings.workers.join(", ")}`);
const scale = only.has("workers") ? await scaleBench() : [];
log("7. the callout as shipped: the users-file and users-db examples against callout.go");
const shipped = only.has("shipped") ? await shippedBench() : undefined;
await writeReport({ environment, connect: connect.results, cpuMsPerAuthorization: connect.cpuMsPerAuthorization, serverCpuMsPerConnect: connect.serverCpuMsPerConnect, memory, handlers, jetstream, startup, scale, shipped });
