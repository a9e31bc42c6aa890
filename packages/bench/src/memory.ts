// 100k authorizations through the whole pipeline in memory: CPU per authorization, RSS and heap growth.
import "reflect-metadata";

import { AuthCallout, AuthError, type Authorizer, type AuthRequest, type Grant } from "@natsflow/auth-callout";
import { createLogger } from "@natsflow/core";
import { createCalloutHarness } from "@natsflow/testing";

import { makeDirectory, passwordMatches, permissionsFor } from "./directory.js";

class Directory {
  readonly users = makeDirectory();
}

@AuthCallout()
class DirectoryAuthorizer implements Authorizer {
  constructor(private readonly directory: Directory) {}
  authorize(req: AuthRequest): Grant {
    const name = req.username ?? "";
    const user = this.directory.users.get(name);
    if (!user || !passwordMatches(user.pass, req.password)) throw new AuthError("invalid credentials");
    return { account: user.account, name, permissions: permissionsFor(name) };
  }
}

const total = Number(process.argv[2] ?? 100_000);
const gc = (globalThis as { gc?: () => void }).gc;
// Decision logs are made as in production (level info) and thrown away: stdout carries the result.
const discard = { write: () => undefined };
const h = await createCalloutHarness({ controllers: [DirectoryAuthorizer], providers: [Directory], xkey: true, logger: createLogger({ level: process.env.BENCH_LOG_LEVEL ?? "info" }, discard) });
// Requests are minted up front so the measured CPU is the service's alone.
const batch = 1000;
const snapshot = () => {
  gc?.();
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed };
};
const run = async (count: number) => {
  let cpu = 0;
  for (let done = 0; done < count; done += batch) {
    const requests = Array.from({ length: batch }, (_, i) => h.server.mint({ user: `user${(done + i) % 1000}`, pass: `pass${(done + i) % 1000}` }));
    const before = process.cpuUsage();
    const answers = await Promise.all(requests.map((r) => h.send(r)));
    const used = process.cpuUsage(before);
    cpu += used.user + used.system;
    if (answers.some((a) => a === undefined)) throw new Error("an authorization went unanswered");
  }
  return cpu;
};
await run(5000); // warm-up
const before = snapshot();
const cpu = await run(total);
const after = snapshot();
await h.stop();
console.log(JSON.stringify({ authorizations: total, cpuMsPerAuthorization: cpu / 1000 / total, before, after }));
