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
  for (const scenario of scenarios()) {
    const { server, service } = await scenario.start();
    try {
      await load(server.url, Math.min(200, scenario.connects), 10); // warm-up
      const before = service ? await ask(service) : undefined;
      let served = 0;
      for (const concurrency of settings.concurrencies) {
        const rounds: Array<Omit<ConnectResult, "scenario">> = [];
        for (let r = 0; r < settings.rounds; r++) {
          const result = await load(server.url, scenario.connects, concurrency);
          served += scenario.connects - result.failures;
          rounds.push(result);
          log(`  ${scenario.name} C=${concurrency} round ${r + 1}: ${result.perSecond.toFixed(0)}/s, ${result.failures} failures`);
        }
        const pick = rounds.find((x) => x.perSecond === median(rounds.map((y) => y.perSecond))) ?? rounds[0];
        if (pick) results.push({ ...pick, scenario: scenario.name });
      }
      if (service && before) {
        const after = await ask(service);
        const cpu = after.cpu.user + after.cpu.system - before.cpu.user - before.cpu.system;
        cpuMsPerAuthorization[scenario.name] = cpu / 1000 / Math.max(1, served);
      }
    } finally {
      if (service) await stopService(service);
      await server.stop();
    }
  }
  return { results, cpuMsPerAuthorization };
}

async function memoryBench(): Promise<BenchResults["memory"]> {
  const { stdout } = await exec(process.execPath, ["--expose-gc", here("./memory.js"), String(settings.authorizations)], { maxBuffer: 1 << 20 });
  return JSON.parse(stdout) as BenchResults["memory"];
}

async function handlerBench(): Promise<BenchResults["handlers"]> {
  const server = await startNatsServer();
  const out: BenchResults["handlers"] = [];
  try {
    for (const mode of ["raw", "natsflow"] as const) {
      const requests: number[] = [];
      const publishes: number[] = [];
      for (let r = 0; r < settings.rounds; r++) {
        const service = await startService("./services/handlers.js", { PUBLISH_COUNT: String(settings.publishes) }, [mode, server.url]);
        try {
          const { stdout } = await exec(process.execPath, [here("./handler-load.js"), server.url, "request", String(settings.requests), "50"]);
          requests.push((JSON.parse(stdout) as { perSecond: number }).perSecond);
          const done = new Promise<{ received: number; ms: number }>((resolve) => service.once("message", (m) => resolve(m as { received: number; ms: number })));
          await exec(process.execPath, [here("./handler-load.js"), server.url, "publish", String(settings.publishes)]);
          const { received, ms } = await done;
          publishes.push(received / (ms / 1000));
        } finally {
          await stopService(service);
        }
      }
      log(`  handlers ${mode}: request/reply ${median(requests).toFixed(0)}/s, publish ${median(publishes).toFixed(0)}/s`);
      out.push({ mode, requestsPerSecond: median(requests), publishesPerSecond: median(publishes) });
    }
  } finally {
    await server.stop();
  }
  return out;
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
