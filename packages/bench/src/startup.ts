// Start-up and memory: the apps the section starts, and how it sees them serve and measures their RSS.
import { readFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";

import type { NatsConnection } from "nats";

/** Handlers per generated controller class: a 1 000-handler app is 100 controllers, as a real one would split. */
const PER_CONTROLLER = 10;

/** The subject of handler i in a generated app (raw or natsflow alike). */
export const generatedSubject = (i: number) => `gen.c${Math.floor(i / PER_CONTROLLER)}.h${i % PER_CONTROLLER}`;

/** natsflow: N echo handlers written out one by one, decorators applied by hand (plain JS has no decorator syntax). */
function natsflowSource(n: number): string {
  const lines = [`import "reflect-metadata";`, `import { Controller, NatsApp, Payload, Subscribe } from "@natsflow/core";`];
  const controllers: string[] = [];
  for (let c = 0; c * PER_CONTROLLER < n; c++) {
    const names = Array.from({ length: Math.min(PER_CONTROLLER, n - c * PER_CONTROLLER) }, (_, i) => `h${i}`);
    lines.push(`class C${c} {`, ...names.map((m) => `  ${m}(body) { return body; }`), `}`);
    for (const [i, m] of names.entries()) {
      lines.push(
        `Subscribe(${JSON.stringify(generatedSubject(c * PER_CONTROLLER + i))}, {})(C${c}.prototype, "${m}", Object.getOwnPropertyDescriptor(C${c}.prototype, "${m}"));`,
        `Payload()(C${c}.prototype, "${m}", 0);`,
      );
    }
    lines.push(`Controller()(C${c});`);
    controllers.push(`C${c}`);
  }
  // As a user's main.ts: the connection from NATS_URL, the default logger, SIGTERM stops it gracefully.
  lines.push(`const app = await NatsApp.create({ controllers: [${controllers.join(", ")}] });`, `await app.listen();`);
  return `${lines.join("\n")}\n`;
}

/** The raw `nats` script: the same subjects, each answered with its JSON payload, one subscribe call each. */
function rawSource(n: number): string {
  const lines = [
    `import { connect } from "nats";`,
    `const nc = await connect({ servers: process.env.NATS_URL });`,
    `const te = new TextEncoder();`,
    `const td = new TextDecoder();`,
    `const echo = (_e, m) => m.respond(te.encode(JSON.stringify(JSON.parse(td.decode(m.data)))));`,
    ...Array.from({ length: n }, (_, i) => `nc.subscribe(${JSON.stringify(generatedSubject(i))}, { callback: echo });`),
    `process.once("SIGTERM", () => void nc.drain());`,
  ];
  return `${lines.join("\n")}\n`;
}

/**
 * Writes the apps under results/ (gitignored, inside the repo so @natsflow/core and nats resolve from
 * the workspace) and a preload that runs a full GC on SIGUSR2, given to raw and natsflow processes alike.
 */
export async function generateApps(counts: number[]): Promise<{ dir: string; gcPreload: string; app(mode: "raw" | "natsflow", n: number): string }> {
  const dir = fileURLToPath(new URL("../results/startup-apps/", import.meta.url));
  await mkdir(dir, { recursive: true });
  const app = (mode: "raw" | "natsflow", n: number) => `${dir}${mode}-${n}.mjs`;
  for (const n of counts) {
    await writeFile(app("raw", n), rawSource(n));
    await writeFile(app("natsflow", n), natsflowSource(n));
  }
  const gcPreload = `${dir}gc-on-sigusr2.cjs`;
  await writeFile(gcPreload, `process.on("SIGUSR2", () => globalThis.gc());\n`);
  return { dir, gcPreload, app };
}

/** Resolves once a request to `subject` is answered; "no responders" (not subscribed yet) is retried every ms. */
export async function firstAnswer(nc: NatsConnection, subject: string, body: string, give: () => boolean): Promise<void> {
  const data = new TextEncoder().encode(body);
  for (;;) {
    try {
      await nc.request(subject, data, { timeout: 2000 });
      return;
    } catch (e) {
      if (give()) throw e;
      await sleep(1);
    }
  }
}

/** Resident set size of a process, in bytes, from /proc (what `ps` and a container's limit see). */
export function rssOf(pid: number): number {
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
  return Number(kb) * 1024;
}
