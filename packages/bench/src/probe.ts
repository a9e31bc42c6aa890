// temporary: CPU per authorization over the wire, natsflow vs Go
import { execFile, fork, spawn, type ChildProcess } from "node:child_process";
import { openSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { configModeCallout, startNatsServer } from "@natsflow/testing";
const exec = promisify(execFile);
const here = (f: string) => fileURLToPath(new URL(f, import.meta.url));
const ticks = (pid: number) => { const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" "); return (Number(f[11]) + Number(f[12])) * 10; };
const which = process.argv[2] ?? "natsflow";
const N = Number(process.argv[3] ?? 2000), C = Number(process.argv[4] ?? 20);
const setup = configModeCallout({ xkey: true });
const cfg = setup.serverConfig as any;
cfg.accounts.AUTH.users = [{ user: "auth", password: "auth" }];
cfg.authorization.auth_callout.auth_users = ["auth"];
const server = await startNatsServer({ config: cfg });
const log = openSync("/tmp/svc.log", "w");
let child: ChildProcess;
if (which === "go") {
  child = spawn(process.env.CALLOUT_GO_BIN!, [server.url, setup.issuer.seed, setup.xkey!.seed], { stdio: ["ignore", "pipe", "inherit"] });
  await new Promise<void>((r) => child.stdout!.once("data", () => r()));
} else {
  child = fork(here("./services/natsflow-callout.js"), [], { env: { ...process.env, NATS_URL: server.url, NATS_USER: "auth", NATS_PASSWORD: "auth", ISSUER_SEED: setup.issuer.seed, XKEY_SEED: setup.xkey!.seed }, stdio: ["ignore", log, "inherit", "ipc"], execArgv: process.env.PROF ? ["--cpu-prof", "--cpu-prof-dir=/tmp/prof"] : [] });
  await new Promise<void>((r) => child.once("message", () => r()));
}
const run = async () => JSON.parse((await exec(process.execPath, [here("./load.js"), server.url, String(N), String(C), "5000", "alice"])).stdout);
await run();
for (let i = 0; i < 3; i++) {
  const s0 = ticks(server.pid!), c0 = ticks(child.pid!);
  const t0 = process.cpuUsage();
  const r = await run();
  const s1 = ticks(server.pid!), c1 = ticks(child.pid!);
  console.log(which, `C=${C}`, Math.round(r.perSecond), "/s", "fail", r.failures, "p99", r.p99.toFixed(1), "svc ms/auth", ((c1 - c0) / N).toFixed(3), "server ms/conn", ((s1 - s0) / N).toFixed(3));
}
child.kill("SIGTERM");
await new Promise((r) => child.once("exit", r));
await server.stop();
