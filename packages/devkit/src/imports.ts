import { readFile } from "node:fs/promises";

// Runs in the loader's thread of the child: appends synchronously, so a line is written before the import it records completes.
const HOOK = `
  import { appendFileSync } from "node:fs";
  export async function resolve(specifier, context, next) {
    const resolved = await next(specifier, context);
    appendFileSync(process.env.NATSFLOW_IMPORTS_LOG, resolved.url + " " + (context.parentURL ?? "-") + "\\n");
    return resolved;
  }
`;

const REGISTER = `import { register } from "node:module"; register("data:text/javascript," + encodeURIComponent(${JSON.stringify(HOOK)}));`;

export interface ImportedModule {
  /** The module's resolved URL (`file:…`, `node:…`, `data:…`). */
  readonly url: string;
  /** The URL of the module that imported it; "-" for the entry point. */
  readonly parent: string;
}

/**
 * Records every ES-module import of a Node.js child process, with its importer, into `file`: start the
 * child with `execArgv` before its script and `env` merged into its environment. CommonJS `require`s
 * (a CommonJS package's own files) are not seen: an ES module importing that package is.
 */
export function recordImports(file: string): { execArgv: string[]; env: Record<string, string>; read(): Promise<ImportedModule[]> } {
  return {
    execArgv: ["--import", `data:text/javascript,${encodeURIComponent(REGISTER)}`],
    env: { NATSFLOW_IMPORTS_LOG: file },
    read: async () => {
      const text = await readFile(file, "utf8").catch((e: NodeJS.ErrnoException) => {
        if (e.code === "ENOENT") return "";
        throw e;
      });
      return text
        .split("\n")
        .filter(Boolean)
        .map((line) => {
          const [url = "", parent = "-"] = line.split(" ");
          return { url, parent };
        });
    },
  };
}
