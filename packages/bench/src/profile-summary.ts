// Where a service's main thread spent its time, from a V8 CPU profile (BENCH_PROFILE=<dir>):
//   node dist/profile-summary.js <file.cpuprofile> [top]
// Self time by where the code lives (a package under node_modules, a workspace package, Node's own,
// V8's GC, idle) and the top functions by self time. Only the main thread is sampled: work on libuv's
// threadpool (password hashes) does not appear; run.ts reports it as "other threads".
import { readFileSync } from "node:fs";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const [file, top = "25"] = process.argv.slice(2);
if (!file) {
  console.error("usage: profile-summary <file.cpuprofile> [top]");
  process.exit(2);
}
const profile = JSON.parse(readFileSync(file, "utf8")) as Profile;
const nodes = new Map(profile.nodes.map((n) => [n.id, n]));

/** The package or place a URL belongs to: @scope/name or name under node_modules, a workspace dir, node:… */
function place(node: ProfileNode): string {
  const { url, functionName } = node.callFrame;
  if (!url) return functionName.startsWith("(") ? functionName : "(native)";
  if (url.startsWith("node:")) return "node (built-in modules)";
  const modules = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (modules) return modules[1] as string;
  const workspace = /\/(packages|examples)\/([^/]+)\//.exec(url);
  return workspace ? `${workspace[1]}/${workspace[2]}` : url;
}

const byPlace = new Map<string, number>();
const byFunction = new Map<string, number>();
let total = 0;
profile.samples.forEach((id, i) => {
  const node = nodes.get(id);
  const us = profile.timeDeltas[i] ?? 0;
  if (!node) return;
  total += us;
  const where = place(node);
  byPlace.set(where, (byPlace.get(where) ?? 0) + us);
  const fn = `${node.callFrame.functionName || "(anonymous)"} ${where}:${node.callFrame.lineNumber + 1}`;
  byFunction.set(fn, (byFunction.get(fn) ?? 0) + us);
});

const busy = total - (byPlace.get("(idle)") ?? 0);
const line = (name: string, us: number) => `${(us / 1000).toFixed(0).padStart(8)} ms  ${((us / busy) * 100).toFixed(1).padStart(5)} % of busy  ${name}`;
console.log(`${file}: ${(total / 1e6).toFixed(1)} s sampled, ${(busy / 1e6).toFixed(1)} s busy (idle excluded from the percentages)`);
console.log("\nself time by place:");
for (const [name, us] of [...byPlace].sort((a, b) => b[1] - a[1])) if (name !== "(idle)") console.log(line(name, us));
console.log(`\ntop ${top} functions by self time:`);
for (const [name, us] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, Number(top))) console.log(line(name, us));
