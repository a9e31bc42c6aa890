import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

import type { NatsApp } from "@natsflow/core";

import { registerTypeScript } from "./loader/ts-register.js";

/** A mistake in what the command was asked: exit 2, with the message. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** A `NatsApp`, by shape: the module's copy of @natsflow/core may not be the CLI's. */
function isApp(value: unknown): value is NatsApp {
  const v = value as Partial<Record<keyof NatsApp, unknown>> | null;
  return typeof v === "object" && v !== null && typeof v.listen === "function" && typeof v.stop === "function" && typeof v.asyncapi === "function";
}

/**
 * Loads `<module>[#export]` — built JavaScript or TypeScript — and returns its app: the named export
 * (default: `default`, else the one export that is an app or a function), a `NatsApp` or a function
 * that makes one (sync or async).
 */
export async function loadApp(spec: string): Promise<NatsApp> {
  const hash = spec.lastIndexOf("#");
  const file = hash > 0 ? spec.slice(0, hash) : spec;
  const name = hash > 0 ? spec.slice(hash + 1) : undefined;
  const path = resolve(file);
  if (!existsSync(path)) throw new UsageError(`${file}: no such file (give the module that exports the app, e.g. src/app.ts#app)`);
  if (/\.(c|m)?ts$/.test(path)) registerTypeScript();
  const mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  let picked: unknown;
  if (name !== undefined) {
    if (!(name in mod)) throw new UsageError(`${file} has no export "${name}" (it exports ${Object.keys(mod).join(", ") || "nothing"})`);
    picked = mod[name];
  } else if ("default" in mod) picked = mod.default;
  else {
    const candidates = Object.entries(mod).filter(([, v]) => isApp(v) || typeof v === "function");
    if (candidates.length !== 1) {
      throw new UsageError(`${file}: say which export is the app, e.g. ${file}#${candidates[0]?.[0] ?? "app"} (found ${candidates.map(([k]) => k).join(", ") || "none"})`);
    }
    picked = candidates[0]?.[1];
  }
  const app = typeof picked === "function" && !isApp(picked) ? await (picked as () => unknown)() : picked;
  if (!isApp(app)) throw new UsageError(`${spec} is not a NatsApp nor a function returning one`);
  return app;
}
