import { existsSync, readFileSync } from "node:fs";
import { cp, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { builtinModules, createRequire } from "node:module";
import { basename, dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { UsageError } from "../app-module.js";

/** Where the examples are: shipped in the package (`templates/`), or the monorepo's `examples/`. */
export function examplesRoot(): string {
  const shipped = fileURLToPath(new URL("../../templates/", import.meta.url));
  return existsSync(shipped) ? shipped : fileURLToPath(new URL("../../../../examples/", import.meta.url));
}

export async function exampleNames(): Promise<string[]> {
  const entries = await readdir(examplesRoot(), { withFileTypes: true });
  return entries.filter((e) => e.isDirectory() && existsSync(join(examplesRoot(), e.name, "package.json"))).map((e) => e.name).sort();
}

export interface NewOptions {
  example: string;
  /** A directory of `npm pack` tarballs to take natsflow's packages from (`file:`), instead of the registry. */
  tarballs?: string;
  force?: boolean;
}

/** `file:` specs for the natsflow packages packed in `dir` (`natsflow-core-0.1.0.tgz` is @natsflow/core). */
async function packedIn(dir: string): Promise<Record<string, string>> {
  const files = await readdir(dir);
  const found: Record<string, string> = {};
  for (const name of NATSFLOW_PACKAGES) {
    const stem = name.replace(/^@/, "").replace("/", "-");
    const file = files.find((f) => new RegExp(`^${stem}-\\d+\\.\\d+\\.\\d+.*\\.tgz$`).test(f));
    if (file) found[name] = `file:${resolve(dir, file)}`;
  }
  return found;
}

const SKIP = new Set(["dist", "node_modules", "package.json", "tsconfig.json", ".env"]);
const OWN_VERSION = (JSON.parse(readFileSync(fileURLToPath(new URL("../../package.json", import.meta.url)), "utf8")) as { version: string }).version;
const NATSFLOW_PACKAGES = ["@natsflow/core", "@natsflow/auth-callout", "@natsflow/devkit", "@natsflow/testing", "natsflow"];

/** What a standalone app needs besides its imports: a compiler, a test runner that emits decorator metadata. */
const TOOLING: Record<string, string> = { typescript: "~5.9.3", vitest: "^4.1.12", vite: "^8.3.0", "@types/node": "^20.19.0" };

const TSCONFIG = {
  compilerOptions: {
    target: "es2022",
    lib: ["es2023", "dom"],
    module: "nodenext",
    moduleResolution: "nodenext",
    types: ["node"],
    strict: true,
    // Decorators and the constructor types DI injects by: without them tsc fails with TS1241/TS1206.
    experimentalDecorators: true,
    emitDecoratorMetadata: true,
    skipLibCheck: true,
    esModuleInterop: true,
    sourceMap: true,
    rootDir: "src",
    outDir: "dist",
  },
  include: ["src"],
};

const VITEST_CONFIG = `import { defineConfig } from "vitest/config";

// vitest 4 compiles TypeScript with vite 8, which emits decorator metadata from tsconfig.json.
export default defineConfig({
  test: { include: ["test/**/*.test.ts"], testTimeout: 30_000, hookTimeout: 60_000 },
});
`;

/** The packages a directory's sources import by name (not relative, not Node's own). */
async function importsOf(dir: string): Promise<Set<string>> {
  const found = new Set<string>();
  if (!existsSync(dir)) return found;
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !/\.(ts|js|mjs)$/.test(entry.name)) continue;
    const text = await readFile(join(entry.parentPath, entry.name), "utf8");
    for (const m of text.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)["']([^"'./][^"']*)["']/g)) {
      const spec = m[1] as string;
      const name = spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : (spec.split("/")[0] as string);
      if (!spec.startsWith("node:") && !builtinModules.includes(name)) found.add(name);
    }
  }
  return found;
}

/** The version of `name` this installation resolves (its package.json, found above its entry point: `exports` may hide it). */
function installedVersion(name: string): string | undefined {
  let path: string;
  try {
    path = createRequire(import.meta.url).resolve(name);
  } catch {
    return undefined;
  }
  for (let dir = dirname(path); dir !== dirname(dir); dir = dirname(dir)) {
    const file = join(dir, "package.json");
    if (!existsSync(file)) continue;
    const manifest = JSON.parse(readFileSync(file, "utf8")) as { name?: string; version?: string };
    if (manifest.name === name) return manifest.version;
  }
  return undefined;
}

/** The version range to ask for: what the example says, else what this installation has. */
function versionOf(name: string, declared: Record<string, string>, packages: Record<string, string>): string {
  if (NATSFLOW_PACKAGES.includes(name)) return packages[name] ?? `^${OWN_VERSION}`;
  if (declared[name]) return declared[name] as string;
  const installed = installedVersion(name);
  if (installed === undefined) throw new UsageError(`the example imports ${name}, whose version is unknown here: add it to the example's package.json`);
  return `^${installed}`;
}

const sorted = (o: Record<string, string>) => Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));

/**
 * `natsflow new <dir> --example <name>`: the example as a standalone app — its sources, tests, data
 * and README; a package.json with natsflow's versions (or the tarballs given) and every package its
 * code imports; a tsconfig with decorator metadata; a vitest config; `.env.example`.
 */
export async function scaffold(dir: string, options: NewOptions): Promise<string[]> {
  const names = await exampleNames();
  if (!names.includes(options.example)) throw new UsageError(`--example ${options.example}: there is ${names.join(", ")}`);
  const target = resolve(dir);
  if (existsSync(target) && (await readdir(target)).length > 0 && !options.force) {
    throw new UsageError(`${dir} exists and is not empty: choose another directory, or pass --force to write into it`);
  }
  const source = join(examplesRoot(), options.example);
  const manifest = JSON.parse(await readFile(join(source, "package.json"), "utf8")) as {
    description?: string;
    scripts?: Record<string, string>;
    dependencies?: Record<string, string>;
    devDependencies?: Record<string, string>;
    /** `app`: the module#export `natsflow dev` runs. */
    natsflow?: { app?: string };
  };
  await mkdir(target, { recursive: true });
  const written: string[] = [];
  for (const entry of await readdir(source)) {
    if (SKIP.has(entry)) continue;
    await cp(join(source, entry), join(target, entry), { recursive: true });
    written.push(entry);
  }
  const declared = { ...manifest.devDependencies, ...manifest.dependencies };
  const packages = options.tarballs ? await packedIn(options.tarballs) : {};
  const runtime = await importsOf(join(source, "src"));
  const testing = [...(await importsOf(join(source, "test")))].filter((n) => !runtime.has(n));
  const pkg = {
    name: basename(target).toLowerCase().replace(/[^a-z0-9._-]+/g, "-"),
    version: "0.1.0",
    private: true,
    description: manifest.description ?? `A natsflow app, from the ${options.example} example`,
    type: "module",
    engines: { node: ">=20.19" },
    scripts: {
      ...manifest.scripts,
      build: "tsc -p .",
      test: "tsc -p . && vitest run",
      ...(manifest.natsflow?.app ? { dev: `natsflow dev ${manifest.natsflow.app}` } : {}),
    },
    // What it imports, and what it declares (a package resolved by path, not imported, counts too).
    dependencies: sorted(Object.fromEntries([...new Set([...runtime, ...Object.keys(manifest.dependencies ?? {})])].map((n) => [n, versionOf(n, declared, packages)]))),
    devDependencies: sorted({
      ...TOOLING,
      // Declared but not imported by name: type packages.
      ...Object.fromEntries(Object.keys(manifest.devDependencies ?? {}).filter((n) => !runtime.has(n)).map((n) => [n, versionOf(n, declared, packages)])),
      natsflow: versionOf("natsflow", declared, packages),
      ...Object.fromEntries(testing.filter((n) => !(n in TOOLING)).map((n) => [n, versionOf(n, declared, packages)])),
    }),
    // From tarballs, natsflow's packages depend on each other at versions no registry has: these too.
    ...(options.tarballs ? { overrides: packages } : {}),
  };
  const files: Record<string, string> = {
    "package.json": `${JSON.stringify(pkg, null, 2)}\n`,
    "tsconfig.json": `${JSON.stringify(TSCONFIG, null, 2)}\n`,
    "vitest.config.ts": VITEST_CONFIG,
    ".gitignore": "node_modules\ndist\n.env\n*.data\n",
  };
  if (!written.includes(".env.example")) files[".env.example"] = "NATS_URL=nats://127.0.0.1:4222\n";
  for (const [name, text] of Object.entries(files)) {
    await writeFile(join(target, name), text);
    written.push(name);
  }
  return written.map((f) => relative(process.cwd(), join(target, f)));
}
