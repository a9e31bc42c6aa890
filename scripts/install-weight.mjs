// What a user's `npm install` brings, measured from packed tarballs outside the repository:
//   node scripts/install-weight.mjs        (after `npm run build`)
// For each install — `npm i @natsflow/core`, `npm i @natsflow/auth-callout`, `npm i -D natsflow` —
// the packages installed (and those left with `--omit=dev`) and the size of node_modules on disk.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dirname, "..");
const work = mkdtempSync(join(tmpdir(), "natsflow-weight-"));
const npm = (args, cwd) => execFileSync("npm", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

try {
  const packed = {};
  for (const dir of ["core", "auth-callout", "devkit", "testing", "cli"]) {
    const out = JSON.parse(npm(["pack", "--json", "--pack-destination", work, join(root, "packages", dir)], root));
    packed[out[0].name] = join(work, out[0].filename);
  }
  // Every @natsflow package from the tarballs, as a user outside the repository would get them.
  const overrides = Object.fromEntries(Object.entries(packed).map(([name, file]) => [name, `file:${file}`]));
  const cases = [
    ["npm i @natsflow/core", { dependencies: { "@natsflow/core": overrides["@natsflow/core"] } }],
    ["npm i @natsflow/auth-callout", { dependencies: { "@natsflow/auth-callout": overrides["@natsflow/auth-callout"] } }],
    ["npm i -D natsflow", { devDependencies: { natsflow: overrides.natsflow } }],
  ];
  console.log("| install | packages | on disk | OpenTelemetry SDK |\n| --- | --- | --- | --- |");
  for (const [label, deps] of cases) {
    const dir = join(work, label.replace(/\W+/g, "-"));
    execFileSync("mkdir", ["-p", dir]);
    writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "weight", version: "1.0.0", private: true, type: "module", ...deps, overrides }, null, 2));
    npm(["install", "--no-audit", "--no-fund", "--ignore-scripts"], dir);
    // What is on disk: one line per installed package folder.
    const names = new Set(npm(["ls", "--all", "--parseable"], dir).split("\n").filter((p) => p.includes("node_modules")).map((p) => p.slice(p.lastIndexOf("node_modules/") + 13)));
    const sdk = [...names].filter((n) => n.startsWith("@opentelemetry/sdk-"));
    console.log(`| \`${label}\` | ${names.size} | ${(du(join(dir, "node_modules")) / 1024 / 1024).toFixed(1)} MB | ${sdk.length > 0 ? sdk.join(", ") : "none"} |`);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

/** Bytes of every file under `dir` (apparent size). */
function du(dir) {
  let bytes = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) bytes += du(path);
    else if (entry.isFile()) bytes += statSync(path).size;
  }
  return bytes;
}
