// Module hooks (registered by ts-register.ts) that let Node import an app's TypeScript sources
// directly, with decorator metadata emitted — unlike tsx and esbuild, which drop `design:paramtypes`.
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

import ts from "typescript";

type Next<A extends unknown[], R> = (...args: A) => Promise<R>;
interface ResolveResult {
  url: string;
  format?: string | null;
  shortCircuit?: boolean;
}
interface LoadResult {
  format: string;
  source?: string | ArrayBuffer | Uint8Array;
  shortCircuit?: boolean;
}

const COMPILER: ts.CompilerOptions = {
  module: ts.ModuleKind.ESNext,
  target: ts.ScriptTarget.ES2022,
  experimentalDecorators: true,
  emitDecoratorMetadata: true,
  useDefineForClassFields: false,
  inlineSourceMap: true,
  inlineSources: true,
  esModuleInterop: true,
};

/** TypeScript sources import `./x.js`; when only `./x.ts` exists, that is the file meant. */
export async function resolve(specifier: string, context: { parentURL?: string }, next: Next<[string, { parentURL?: string }], ResolveResult>): Promise<ResolveResult> {
  const fromTs = context.parentURL?.endsWith(".ts") === true;
  if (fromTs && specifier.startsWith(".") && specifier.endsWith(".js")) {
    const asTs = new URL(specifier.replace(/\.js$/, ".ts"), context.parentURL);
    if (!existsSync(new URL(specifier, context.parentURL)) && existsSync(asTs)) return { url: asTs.href, shortCircuit: true };
  }
  return next(specifier, context);
}

export async function load(url: string, context: { format?: string | null }, next: Next<[string, { format?: string | null }], LoadResult>): Promise<LoadResult> {
  if (!url.startsWith("file:") || !/\.(c|m)?ts$/.test(url) || url.endsWith(".d.ts")) return next(url, context);
  const path = fileURLToPath(url);
  const out = ts.transpileModule(readFileSync(path, "utf8"), { compilerOptions: COMPILER, fileName: path, reportDiagnostics: false });
  return { format: "module", source: out.outputText, shortCircuit: true };
}
