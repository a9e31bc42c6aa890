// The TypeScript blocks of README.md and docs/operations.md compile as pasted: each is type-checked with the repo's compiler settings.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

import ts from "typescript";
import { afterAll, describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../../../", import.meta.url));
// Inside the repo, so the workspace packages and their dependencies resolve as they would for a user.
const dir = mkdtempSync(join(root, ".readme-blocks-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Every ```ts block, unless a `<!-- not-compiled -->` comment stands right before it. */
function tsBlocks(markdown: string): { line: number; code: string }[] {
  return [...markdown.matchAll(/(<!--\s*not-compiled\b[^>]*-->\s*\n)?```ts\n([\s\S]*?)^```/gm)].flatMap((m) =>
    m[1] ? [] : [{ line: markdown.slice(0, m.index).split("\n").length, code: m[2] as string }],
  );
}

/** Type errors of each snippet, as `file:line: message`; the settings are tsconfig.base.json's (decorators, metadata, strict). */
function typeErrors(snippets: readonly string[]): string[] {
  const config = ts.readConfigFile(join(root, "tsconfig.base.json"), (f) => ts.sys.readFile(f));
  const { options } = ts.parseJsonConfigFileContent(config.config, ts.sys, root);
  const files = snippets.map((code, i) => {
    const file = join(dir, `block-${i}.ts`);
    writeFileSync(file, code);
    return file;
  });
  const program = ts.createProgram(files, { ...options, noEmit: true, composite: false, declaration: false, declarationMap: false, incremental: false });
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const at = d.file && d.start !== undefined ? `${d.file.fileName.slice(dir.length + 1)}:${d.file.getLineAndCharacterOfPosition(d.start).line + 1}: ` : "";
    return at + ts.flattenDiagnosticMessageText(d.messageText, "\n");
  });
}

describe("README.md", () => {
  const blocks = tsBlocks(readFileSync(join(root, "README.md"), "utf8"));

  it("has TypeScript blocks, the first example among them, that type-check as pasted", () => {
    expect(blocks[0]?.code).toContain("NatsApp.create");
    const errors = typeErrors(blocks.map((b) => b.code));
    // block-N is the README's Nth ```ts block, at the line given here.
    expect(errors, blocks.map((b, i) => `block-${i}: README.md line ${b.line}`).join(", ")).toEqual([]);
  });

  it("would catch a block that does not compile", () => {
    expect(typeErrors(['import { NatsApp } from "@natsflow/core";\nawait NatsApp.create({ controlers: [] });\n'])).toEqual([
      expect.stringMatching(/^block-0\.ts:2: .*'controlers' does not exist/),
    ]);
  });
});

describe("docs/operations.md", () => {
  it("its TypeScript recipe type-checks as pasted", () => {
    const blocks = tsBlocks(readFileSync(join(root, "docs/operations.md"), "utf8"));
    expect(blocks.map((b) => b.code).join("\n")).toContain("RevisionMismatchError");
    expect(typeErrors(blocks.map((b) => b.code)), blocks.map((b, i) => `block-${i}: docs/operations.md line ${b.line}`).join(", ")).toEqual([]);
  });
});
