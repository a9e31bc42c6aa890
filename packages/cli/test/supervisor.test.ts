// natsflow run as a supervisor (--workers N, --watch), as processes against a real nats-server: what it
// does when workers keep dying, when a signal lands at any moment, and when its own parent goes away.
// Each CLI runs in its own process group, so "no process left" covers every worker it forked.
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

import { connectNats, type Transport } from "@natsflow/core";
import { freePort, spawnTracked, startNatsServer, type NatsServer, type ProcessExit, type TrackedProcess } from "@natsflow/testing";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";

const CLI = fileURLToPath(new URL("../dist/main.js", import.meta.url));
const FIXTURE = fileURLToPath(new URL("./fixtures/supervised/", import.meta.url));
const APP = join(FIXTURE, "app.mjs#createApp");
const HERE = fileURLToPath(new URL(".", import.meta.url));
/** The fixture's shutdownTimeoutMs. */
const SHUTDOWN_MS = 2_000;

let server: NatsServer;
let client: Transport;
let scratch: string;
const groups = new Set<number>();

beforeAll(async () => {
  server = await startNatsServer();
  client = await connectNats({ servers: server.url });
  scratch = await mkdtemp(join(tmpdir(), "natsflow-supervisor-"));
});
afterEach(() => {
  // A failed test must not leave a worker behind: the tracker only knows the group leader.
  for (const pgid of groups) if (alive(-pgid)) process.kill(-pgid, "SIGKILL");
  groups.clear();
});
afterAll(async () => {
  await client?.close();
  await server?.stop();
  await rm(scratch, { recursive: true, force: true });
});

/** Whether a process (or, for a negative number, a process group) still exists. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ESRCH") return false;
    throw e;
  }
}

let runs = 0;
/** `natsflow run <args>` as the leader of its own process group; FIXTURE_PIDS collects every app process's pid. */
function supervised(args: string[], env: Record<string, string> = {}): TrackedProcess & { pids: string } {
  const pids = join(scratch, `pids-${++runs}`);
  const p = spawnTracked(process.execPath, [CLI, "run", ...args], {
    label: `natsflow run ${args.join(" ")}`,
    detached: true,
    env: { ...process.env, NATS_URL: server.url, FIXTURE_PIDS: pids, FIXTURE_SHUTDOWN_MS: String(SHUTDOWN_MS), ...env },
  });
  groups.add(p.child.pid as number);
  return Object.assign(p, { pids });
}

const pidsOf = async (file: string): Promise<number[]> =>
  (await readFile(file, "utf8").catch(() => "")).split("\n").filter(Boolean).map(Number);

/** The exit, or a failure showing the output when it does not come within `ms`. */
async function exitWithin(p: TrackedProcess, ms: number): Promise<ProcessExit> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${p.label} did not exit within ${ms} ms:\n${p.output.slice(-3000)}`)), ms);
  });
  try {
    return await Promise.race([p.exited, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls until `check` holds, failing with `what` after `ms`. */
async function eventually(what: string, check: () => boolean | Promise<boolean>, ms: number): Promise<void> {
  for (const until = Date.now() + ms; !(await check()); ) {
    if (Date.now() > until) throw new Error(what);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Every process of the CLI's group is gone: the primary and each worker it forked. */
async function noneLeft(p: TrackedProcess & { pids: string }, ms = 2_000): Promise<void> {
  const pgid = p.child.pid as number;
  await eventually(`processes of ${p.label} left running (app pids ${(await pidsOf(p.pids)).filter(alive).join(", ")}):\n${p.output.slice(-2000)}`, () => !alive(-pgid), ms);
  for (const pid of await pidsOf(p.pids)) expect(alive(pid), `app process ${pid}`).toBe(false);
}

/** Asks until the app processes that have answered satisfy `enough`; returns them. */
async function answering(enough: (pids: Set<number>) => boolean, what: string, within = 30_000): Promise<Set<number>> {
  const seen = new Set<number>();
  await eventually(
    `${what} (answered: ${[...seen].join(", ") || "none"})`,
    async () => {
      const reply = await client.request("supervised.pid", new Uint8Array(0), { timeoutMs: 500 }).catch(() => undefined);
      if (reply) seen.add(Number(new TextDecoder().decode(reply.data)));
      return enough(seen);
    },
    within,
  );
  return seen;
}

const serving = (n: number) => answering((pids) => pids.size >= n, `${n} app processes never answered`);

describe("natsflow run --workers", () => {
  /** `n` requests to fanout.create, answered; then what was published on fanout.created, each id once per publish. */
  async function published(n: number, settled: (ids: string[]) => boolean): Promise<string[]> {
    const ids: string[] = [];
    const sub = client.subscribe("fanout.created", {}, (m) => ids.push(new TextDecoder().decode(m.data)));
    await client.flush();
    for (let i = 0; i < n; i++) await client.request("fanout.create", new TextEncoder().encode(`r${i}`), { timeoutMs: 5_000 });
    // A worker publishes before it replies, on one connection: what it published is here by its reply.
    await eventually(`publishes never settled (got ${ids.join(", ")})`, () => settled(ids), 10_000);
    sub.unsubscribe();
    return ids.sort();
  }

  it("a handler without a queue group runs on every worker, and each worker says so at start; with a queue, once per request", async () => {
    const fanOut = supervised([APP, "--workers", "2"], { FIXTURE_FANOUT: "none" });
    await serving(2);
    await eventually("both workers warn", () => fanOut.output.match(/fanout\.create has no queue group/g)?.length === 2, 10_000);
    // Each of the 2 workers got the one request, and published its event.
    expect(await published(1, (ids) => ids.length >= 2)).toEqual(["r0", "r0"]);
    expect((await fanOut.stop()).code).toBe(0);
    await noneLeft(fanOut);

    const queued = supervised([APP, "--workers", "2"], { FIXTURE_FANOUT: "creators" });
    await serving(2);
    const ids = await published(10, (got) => got.length >= 10);
    expect(ids).toEqual(Array.from({ length: 10 }, (_, i) => `r${i}`).sort());
    expect(queued.output).not.toMatch(/no queue group/);
    expect((await queued.stop()).code).toBe(0);
    await noneLeft(queued);
  }, 90_000);

  it("gives up on a server it cannot reach: exit 1 with a line saying why, no worker left", async () => {
    const p = supervised([APP, "--workers", "2"], { NATS_URL: `nats://127.0.0.1:${await freePort()}` });
    const exit = await exitWithin(p, 60_000);
    expect(exit.code, p.output.slice(-3000)).toBe(1);
    expect(p.output).toMatch(/natsflow: giving up: 5 workers in a row exited before serving/);
    // The 5th failure cancels the restart still waiting; a 6th worker may have been forked already.
    expect((await pidsOf(p.pids)).length).toBeGreaterThanOrEqual(5);
    await noneLeft(p);
  }, 90_000);

  it("restarts workers that die after serving with backoff, and gives up at the 5th failure within 60 s: exit 1", async () => {
    const p = supervised([APP, "--workers", "2"], { FIXTURE_CRASH_AFTER_MS: "200" });
    const exit = await exitWithin(p, 60_000);
    expect(exit.code, p.output.slice(-3000)).toBe(1);
    expect(p.output).toMatch(/natsflow: giving up: 5 workers exited within 60 s \(the last: exit 1\); stopping the other workers, exit 1/);
    const delays = [...p.output.matchAll(/starting another in (\d+) ms/g)].map((m) => Number(m[1]));
    expect(delays).toEqual([500, 1000, 2000, 4000]);
    await noneLeft(p);
  }, 90_000);

  it("a worker's configuration mistake (exit 2) stops them all: exit 2", async () => {
    const p = supervised([join(FIXTURE, "nope.mjs"), "--workers", "2"]);
    const exit = await exitWithin(p, 30_000);
    expect(exit.code, p.output.slice(-3000)).toBe(2);
    expect(p.output).toMatch(/nope\.mjs: no such file/);
    expect(p.output).toMatch(/natsflow: worker \d+ exited 2 \(a configuration mistake/);
    await noneLeft(p);
  }, 40_000);

  it("replaces a worker that dies, and keeps serving", async () => {
    const p = supervised([APP, "--workers", "2"]);
    const [first] = await serving(2);
    process.kill(first as number, "SIGKILL");
    await eventually("no worker replaced the killed one", async () => (await pidsOf(p.pids)).length === 3, 30_000);
    expect(p.output).toMatch(new RegExp(`worker ${first} exited \\(SIGKILL\\); starting another in 500 ms`));
    const replacement = (await pidsOf(p.pids))[2] as number;
    await answering((pids) => pids.has(replacement), "the replacement never answered");
    const exit = await p.stop();
    expect(exit.code).toBe(0);
    await noneLeft(p);
  }, 90_000);

  /** SIGTERM after `delay` ms to a `--workers 2` whose first worker crashes on start; it must stop within the bound, leaving nothing. */
  async function stopAfter(delay: number, what: string): Promise<string> {
    // The first worker to start crashes, so a re-fork is pending for a while after it.
    const p = supervised([APP, "--workers", "2"], { FIXTURE_CRASH_ONCE: join(scratch, `crash-${runs + 1}`) });
    await new Promise((r) => setTimeout(r, delay));
    void p.stop();
    const exit = await exitWithin(p, SHUTDOWN_MS + 1_000);
    const loaded = (await pidsOf(p.pids)).length;
    const tried = `${what}: SIGTERM after ${Math.round(delay)} ms, ${loaded} app processes had loaded:\n${p.output.slice(-2000)}`;
    expect(exit.stopMs, tried).toBeLessThan(SHUTDOWN_MS + 1_000);
    // Before the CLI has loaded, SIGTERM ends it at once (Node's default): nothing had started.
    if (exit.signal === "SIGTERM") expect(loaded, tried).toBe(0);
    else expect(exit.code, tried).toBe(0);
    await noneLeft(p);
    return `${Math.round(delay)} ms: ${/starting another/.test(p.output) ? "after the crash" : "before it"}, ${loaded} loaded`;
  }

  it("SIGTERM while a dead worker's replacement waits to be forked stops everything, the replacement too", async () => {
    // The other worker's stop outlasts the re-fork delay.
    const p = supervised([APP, "--workers", "2"], { FIXTURE_SLOW_STOP_MS: "1000" });
    const [victim] = await serving(2);
    process.kill(victim as number, "SIGKILL");
    await p.waitForOutput(/starting another/);
    void p.stop();
    const exit = await exitWithin(p, SHUTDOWN_MS + 1_000);
    expect(exit.code, p.output.slice(-3000)).toBe(0);
    expect((await pidsOf(p.pids)).length).toBe(2);
    await noneLeft(p);
  }, 60_000);

  it("SIGTERM at random moments of the start (20 tries) stops every worker within shutdownTimeoutMs + 1 s", async () => {
    // How long a start takes here (it varies with the machine's load): the tries spread over it.
    const p = supervised([APP, "--workers", "2"], { FIXTURE_CRASH_ONCE: join(scratch, `crash-${runs + 1}`) });
    const started = performance.now();
    await serving(2);
    const startMs = performance.now() - started;
    await p.stop();
    await noneLeft(p);
    const moments: string[] = [];
    for (let i = 0; i < 20; i++) moments.push(await stopAfter(Math.random() * startMs * 1.2, `try ${i}`));
    // What the tries hit, shown in the output of a verbose run.
    console.info(`start took ${Math.round(startMs)} ms; SIGTERM at ${moments.join("; ")}`);
  }, 300_000);

  it("a SIGKILLed primary takes its workers with it", async () => {
    const p = supervised([APP, "--workers", "2"]);
    await serving(2);
    await p.stop("SIGKILL");
    await noneLeft(p, SHUTDOWN_MS + 3_000);
  }, 60_000);
});

describe("natsflow run --watch", () => {
  let work: string;
  beforeAll(async () => {
    // Inside the repository, so the copy resolves @natsflow/core like the fixture does.
    work = await mkdtemp(join(HERE, ".tmp-supervisor-"));
    await cp(FIXTURE, work, { recursive: true });
  });
  afterAll(() => rm(work, { recursive: true, force: true }));

  it("starts nothing after a stop signal, even when a file changes during the slow stop", async () => {
    const p = supervised([join(work, "app.mjs#createApp"), "--watch"], { FIXTURE_SLOW_STOP_MS: "1500" });
    await serving(1);
    void p.stop();
    await new Promise((r) => setTimeout(r, 300));
    await writeFile(join(work, "touched.txt"), "changed during the stop\n");
    const exit = await exitWithin(p, SHUTDOWN_MS + 3_000);
    expect(exit.code, p.output.slice(-3000)).toBe(0);
    expect(p.output).not.toMatch(/change detected/);
    expect((await pidsOf(p.pids)).length).toBe(1);
    await noneLeft(p);
  }, 60_000);

  for (const workers of ["1", "2"]) {
    it(`its app (--workers ${workers}) stops when the --watch parent is SIGKILLed`, async () => {
      const p = supervised([join(work, "app.mjs#createApp"), "--watch", "--workers", workers]);
      await serving(Number(workers));
      await p.stop("SIGKILL");
      await noneLeft(p, SHUTDOWN_MS + 3_000);
    }, 60_000);
  }
});
