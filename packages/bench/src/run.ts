// `npm run bench`: every measurement side by side, in one run, on this machine.
import { execFile, fork, type ChildProcess } from "node:child_process";
import { cpus, totalmem } from "node:os";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

import { configModeCallout, resolveNatsServer, startNatsServer, type NatsServer } from "@natsflow/testing";

import { makeDirectory } from "./directory.js";
import { writeReport, type BenchResults, type ConnectResult } from "./report.js";

const exec = promisify(execFile);
const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));
const env = process.env;
const settings = {
  connects: Number(env.BENCH_CONNECTS ?? 2000),
  referenceConnects: Number(env.BENCH_REFERENCE_CONNECTS ?? 100),
  concurrencies: (env.BENCH_CONCURRENCY ?? "20,100").split(",").map(Number),
  rounds: Number(env.BENCH_ROUNDS ?? 3),
  authorizations: Number(env.BENCH_AUTHORIZATIONS ?? 100_000),
  requests: Number(env.BENCH_REQUESTS ?? 20_000),
  publishes: Number(env.BENCH_PUBLISHES ?? 200_000),
};

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const log = (line: string) => process.stderr.write(`${line}\n`);

interface Usage {
  cpu: NodeJS.CpuUsage;
  memory: NodeJS.MemoryUsage;
}

function ask(child: ChildProcess): Promise<Usage> {
  return new Promise((resolve) => {
    child.once("message", (m) => resolve(m as Usage));
    child.send("usage");
  });
}

async function startService(file: string, vars: Record<string, string | undefined>, args: string[] = []): Promise<ChildProcess> {
  const child = fork(here(file), args, { env: { ...env, ...vars }, stdio: ["ignore", "inherit", "inherit", "ipc"] });
  await new Promise<void>((resolve, reject) => {
    child.once("message", () => resolve());
    child.once("exit", (code) => reject(new Error(`${file} exited with ${String(code)}`)));
  });
  return child;
}

async function stopService(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  await exited;
}

async function load(url: string, connects: number, concurrency: number): Promise<Omit<ConnectResult, "scenario">> {
  const { stdout } = await exec(process.execPath, [here("./load.js"), url, String(connects), String(concurrency)], { maxBuffer: 1 << 20 });
  return JSON.parse(stdout) as Omit<ConnectResult, "scenario">;
}

type Scenario = { name: string; connects: number; start(): Promise<{ server: NatsServer; service?: ChildProcess }> };

function scenarios(): Scenario[] {
  const staticUsers = [...makeDirectory()].map(([user, u]) => ({ user, password: u.pass }));
  const callout = (service: string): Scenario["start"] => async () => {
    const setup = configModeCallout({ xkey: true });
    const server = await startNatsServer({ config: setup.serverConfig });
    const child = await startService(service, {
      NATS_URL: server.url,
      NATS_USER: setup.serviceUser.user,
      NATS_PASSWORD: setup.serviceUser.pass,
      ISSUER_SEED: setup.issuer.seed,
      XKEY_SEED: setup.xkey?.seed,
    });
    return { server, service: child };
  };
  return [
    { name: "static users (no callout)", connects: settings.connects, start: async () => ({ server: await startNatsServer({ config: { accounts: { APP: { users: staticUsers } } } }) }) },
    { name: "natsflow @AuthCallout", connects: settings.connects, start: callout("./services/natsflow-callout.js") },
    { name: "hand-rolled (nats + nkeys.js + @nats-io/jwt)", connects: settings.referenceConnects, start: callout("./services/hand-rolled.js") },
  ];
}

async function connectBench(): Promise<{ results: ConnectResult[]; cpuMsPerAuthorization: Record<string, number> }> {
  const results: ConnectResult[] = [];
  const cpuMsPerAuthorization: Record<string, number> = {};
  const [staticUsers, natsflow, reference] = scenarios() as [Scenario, Scenario, Scenario];
  // Static and natsflow alternate round by round, so drift on a shared machine hits both alike. The
  // reference runs alone afterwards: its backlog would steal CPU from whatever runs next to it.
  for (const group of [[staticUsers, natsflow], [reference]]) {
    const stacks = [];
    for (const scenario of group) stacks.push({ scenario, ...(await scenario.start()), rounds: new Map<number, Array<Omit<ConnectResult, "scenario">>>(), served: 0 });
    try {
      for (const s of stacks) await load(s.server.url, Math.min(200, s.scenario.connects), 10); // warm-up
      const before = await Promise.all(stacks.map((s) => (s.service ? ask(s.service) : undefined)));
      for (const concurrency of settings.concurrencies) {
        for (let r = 0; r < settings.rounds; r++) {
          for (const s of stacks) {
            const result = await load(s.server.url, s.scenario.connects, concurrency);
            s.served += s.scenario.connects - result.failures;
            s.rounds.set(concurrency, [...(s.rounds.get(concurrency) ?? []), result]);
            log(`  ${s.scenario.name} C=${concurrency} round ${r + 1}: ${result.perSecond.toFixed(0)}/s, ${result.failures} failures`);
          }
        }
      }
      for (const [i, s] of stacks.entries()) {
        for (const concurrency of settings.concurrencies) {
          const rounds = s.rounds.get(concurrency) ?? [];
          const pick = rounds.find((x) => x.perSecond === median(rounds.map((y) => y.perSecond))) ?? rounds[0];
          if (pick) results.push({ ...pick, scenario: s.scenario.name });
        }
        const start = before[i];
        if (s.service && start) {
          const after = await ask(s.service);
          const cpu = after.cpu.user + after.cpu.system - start.cpu.user - start.cpu.system;
          cpuMsPerAuthorization[s.scenario.name] = cpu / 1000 / Math.max(1, s.served);
        }
      }
    } finally {
      for (const s of stacks) {
        if (s.service) await stopService(s.service);
        await s.server.stop();
      }
    }
  }
  results.sort((x, y) => scenarioOrder(x.scenario) - scenarioOrder(y.scenario) || x.concurrency - y.concurrency);
  return { results, cpuMsPerAuthorization };
}

const scenarioOrder = (name: string) => ["static", "natsflow", "hand-rolled"].findIndex((p) => name.startsWith(p));

async function memoryBench(): Promise<BenchResults["memory"]> {
  const { stdout } = await exec(process.execPath, ["--expose-gc", here("./memory.js"), String(settings.authorizations)], { maxBuffer: 1 << 20 });
  return JSON.parse(stdout) as BenchResults["memory"];
}

async function handlerBench(): Promise<BenchResults["handlers"]> {
  const server = await startNatsServer();
  const modes = ["raw", "natsflow"] as const;
  const requests: Record<string, number[]> = { raw: [], natsflow: [] };
  const publishes: Record<string, number[]> = { raw: [], natsflow: [] };
  try {
    // Rounds alternate between the two, so drift on a shared machine hits both alike.
    for (let r = 0; r < settings.rounds; r++) {
      for (const mode of modes) {
        const service = await startService("./services/handlers.js", { PUBLISH_COUNT: String(settings.publishes) }, [mode, server.url]);
        try {
          const { stdout } = await exec(process.execPath, [here("./handler-load.js"), server.url, "request", String(settings.requests), "50"]);
          requests[mode]?.push((JSON.parse(stdout) as { perSecond: number }).perSecond);
          const done = new Promise<{ received: number; ms: number }>((resolve) => service.once("message", (m) => resolve(m as { received: number; ms: number })));
          await exec(process.execPath, [here("./handler-load.js"), server.url, "publish", String(settings.publishes)]);
          const { received, ms } = await done;
          publishes[mode]?.push(received / (ms / 1000));
        } finally {
          await stopService(service);
        }
      }
    }
  } finally {
    await server.stop();
  }
  return modes.map((mode) => {
    log(`  handlers ${mode}: request/reply ${median(requests[mode] ?? []).toFixed(0)}/s, publish ${median(publishes[mode] ?? []).toFixed(0)}/s`);
    return { mode, requestsPerSecond: median(requests[mode] ?? []), publishesPerSecond: median(publishes[mode] ?? []) };
  });
}

const natsServer = await resolveNatsServer();
const environment = {
  date: new Date().toISOString(),
  node: process.version,
  natsServer: natsServer.version,
  cpu: cpus()[0]?.model ?? "unknown",
  cores: cpus().length,
  memoryGiB: Math.round(totalmem() / 2 ** 30),
  settings,
};
log(`natsflow bench: node ${environment.node}, nats-server ${environment.natsServer}, ${environment.cores} × ${environment.cpu}`);
// BENCH_ONLY=connect,memory,handlers runs a subset, for profiling one part.
const only = new Set((env.BENCH_ONLY ?? "connect,memory,handlers").split(","));
log("1. connect throughput");
const connect = only.has("connect") ? await connectBench() : { results: [], cpuMsPerAuthorization: {} };
log("2. memory and CPU over many authorizations (in memory, whole pipeline)");
const memory = only.has("memory") ? await memoryBench() : undefined;
log("3. handler overhead");
const handlers = only.has("handlers") ? await handlerBench() : [];
await writeReport({ environment, connect: connect.results, cpuMsPerAuthorization: connect.cpuMsPerAuthorization, memory, handlers });
