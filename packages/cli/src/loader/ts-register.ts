import { register } from "node:module";

let registered = false;

/** Lets later `import()`s load `.ts` files, compiled with decorator metadata; once per process. */
export function registerTypeScript(): void {
  if (registered) return;
  registered = true;
  register("./ts-hooks.js", import.meta.url);
}
