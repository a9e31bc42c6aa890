#!/usr/bin/env node
// npm create natsflow@latest <dir> -- [--example <name>] [--force]: what `natsflow new` does, for npm create.
import { parseArgs } from "node:util";

import { exampleNames, scaffold } from "natsflow/scaffold";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { example: { type: "string", default: "orders" }, force: { type: "boolean" }, tarballs: { type: "string" }, help: { type: "boolean", short: "h" } },
});
const dir = positionals[0];
if (values.help || !dir) {
  process.stdout.write(`npm create natsflow@latest <dir> -- [--example ${(await exampleNames()).join("|")}] [--force]\n`);
  process.exit(values.help ? 0 : 2);
}
try {
  const files = await scaffold(dir, { example: values.example, force: !!values.force, ...(values.tarballs ? { tarballs: values.tarballs } : {}) });
  process.stdout.write(`wrote ${files.length} files to ${dir} from the ${values.example} example\n\n  cd ${dir}\n  npm install\n  npm test\n  npm run dev\n`);
} catch (e) {
  process.stderr.write(`create-natsflow: ${(e as Error).message}\n`);
  process.exit((e as Error).name === "UsageError" ? 2 : 1);
}
