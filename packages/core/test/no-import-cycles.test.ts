/**
 * No package imports itself in a circle: every package's (and example's) sources, `import type`
 * included — a type-only circle still ties the modules' design together.
 */
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

import madge from "madge";
import { describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));

/** The import circles among the TypeScript files under `dir`, each as the files (relative to `dir`) it goes through. */
async function importCycles(dir: string): Promise<string[][]> {
  const graph = await madge(dir, {
    fileExtensions: ["ts"],
    // Type-only imports are edges too (madge's default, said out loud).
    detectiveOptions: { ts: { skipTypeImports: false }, tsx: { skipTypeImports: false } },
  });
  return graph.circular();
}

async function sourceDirs(): Promise<string[]> {
  const under = async (parent: string) => (await readdir(join(ROOT, parent), { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => `${parent}/${d.name}/src`);
  const dirs = [...(await under("packages")), ...(await under("examples"))];
  const present = await Promise.all(dirs.map((d) => readdir(join(ROOT, d)).then(() => d, () => undefined)));
  return present.filter((d): d is string => d !== undefined);
}

describe("import cycles", () => {
  it("none in any package's or example's sources", { timeout: 120_000 }, async () => {
    const dirs = await sourceDirs();
    expect(dirs).toContain("packages/core/src");
    const found: Record<string, string[]> = {};
    for (const dir of dirs) {
      const cycles = await importCycles(join(ROOT, dir));
      if (cycles.length > 0) found[dir] = cycles.map((c) => [...c, c[0]].join(" → "));
    }
    expect(found).toEqual({});
  });

  it("would catch a circle of type-only imports", async () => {
    const dir = await mkdtemp(join(tmpdir(), "natsflow-cycle-"));
    try {
      await writeFile(join(dir, "a.ts"), 'import type { B } from "./b.js";\nexport interface A { b?: B }\n');
      await writeFile(join(dir, "b.ts"), 'import type { A } from "./a.js";\nexport interface B { a?: A }\n');
      await writeFile(join(dir, "c.ts"), 'import type { A } from "./a.js";\nexport type C = A;\n');
      expect(await importCycles(dir)).toEqual([["a.ts", "b.ts"]]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
