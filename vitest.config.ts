import { fileURLToPath } from "node:url";

import { defineConfig } from "vitest/config";

// Tests run the workspace packages' TypeScript sources, so no build is needed between an edit and a
// test run. Decorator metadata is emitted by Vite's transformer from tsconfig's emitDecoratorMetadata;
// packages/core/test/di-metadata.test.ts proves it.
const packages = ["core", "auth-callout", "devkit", "testing"];

export default defineConfig({
  resolve: {
    alias: packages.map((name) => ({
      find: new RegExp(`^@natsflow/${name}$`),
      replacement: fileURLToPath(new URL(`./packages/${name}/src/index.ts`, import.meta.url)),
    })),
  },
  test: {
    include: ["packages/*/test/**/*.test.ts", "examples/*/test/**/*.test.ts"],
    globalSetup: ["./test/global-setup.ts"],
    setupFiles: ["./test/secret-scan.ts", "./test/processes.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Real servers are started once per file; two workers match the two cores.
    maxWorkers: 2,
  },
});
