import { defineConfig } from "vitest/config";

// Tests import the workspace packages' TypeScript sources (the "@natsflow/source" export condition),
// so no build is needed between an edit and a test run. Decorator metadata is emitted by Vite's
// transformer from tsconfig's emitDecoratorMetadata; test/di-metadata.test.ts proves it.
const conditions = ["@natsflow/source", "import", "module", "node", "default"];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: conditions } },
  test: {
    include: ["packages/*/test/**/*.test.ts", "examples/*/test/**/*.test.ts"],
    globalSetup: ["./test/global-setup.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Real servers are started once per file; two workers match the two cores.
    maxWorkers: 2,
  },
});
