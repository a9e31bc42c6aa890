import { spawn } from "node:child_process";

import { spawnTracked, trackChildProcess } from "@natsflow/testing";

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  label?: string;
  /** The output is meant to hold secrets (`natsflow keys` prints a seed): tracked, but not a log the secret scan reads. */
  secretOutput?: boolean;
}

/** Runs a command to its end as a tracked process (proven to exit); resolves with its exit and output. */
export async function runTracked(command: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  const { secretOutput, label: given, ...spawnOptions } = options;
  const label = given ?? `${command} ${args.join(" ")}`.slice(0, 120);
  const child = secretOutput ? spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], ...spawnOptions }) : spawnTracked(command, args, { ...spawnOptions, label }).child;
  if (secretOutput) void trackChildProcess(child, label);
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (c: Buffer) => (stdout += c.toString("utf8")));
  child.stderr?.on("data", (c: Buffer) => (stderr += c.toString("utf8")));
  // "close" comes after the exit and the last output.
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (c) => resolve(c));
  });
  return { code, stdout, stderr };
}

/** Like `runTracked`, but a non-zero exit is an error carrying the output. */
export async function runOk(command: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  const result = await runTracked(command, args, options);
  if (result.code !== 0) throw new Error(`${command} ${args.join(" ")} exited ${String(result.code)}:\n${result.stdout.slice(-3000)}\n${result.stderr.slice(-3000)}`);
  return result;
}

/** npm run from `npm test` passes its npm_* settings on; a project outside the repository must not inherit them. */
export const cleanEnv = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({
  ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k))),
  ...extra,
});

export interface Packed {
  name: string;
  filename: string;
  files: { path: string }[];
}

/** `npm pack` of the given workspaces (built already) into `dest`: what npm would publish, by package name. */
export async function packWorkspaces(repo: string, dest: string, workspaces: readonly string[]): Promise<Map<string, Packed>> {
  const packed = await runOk("npm", ["pack", "--json", "--pack-destination", dest, ...workspaces.flatMap((d) => ["-w", d])], {
    cwd: repo,
    env: cleanEnv(),
    label: "npm pack (workspaces)",
  });
  return new Map((JSON.parse(packed.stdout.slice(packed.stdout.indexOf("["))) as Packed[]).map((p) => [p.name, p]));
}
