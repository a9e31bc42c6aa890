import { writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";

import type { AsyncApiDocument } from "@natsflow/core";
import { stringify } from "yaml";

import { loadApp } from "../app-module.js";

/** The app's AsyncAPI document, without starting it. */
async function documentOf(spec: string): Promise<AsyncApiDocument> {
  const app = await loadApp(spec);
  try {
    return await app.asyncapi();
  } finally {
    // Never started: this only releases what its providers hold.
    await app.stop();
  }
}

/** `natsflow docs gen <module> [-o file]`: YAML (or JSON for a .json file) to the file, or to stdout. */
export async function docsGen(spec: string, out: string | undefined): Promise<void> {
  const doc = await documentOf(spec);
  const text = out?.endsWith(".json") ? `${JSON.stringify(doc, null, 2)}\n` : stringify(doc, { aliasDuplicateObjects: false });
  if (out) await writeFile(out, text);
  else process.stdout.write(text);
}

const escape = (s: string) => s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c] as string);

type Json = Record<string, unknown>;

/** The document as one readable page: operations by channel, each message's payload schema. */
export function renderPage(doc: AsyncApiDocument): string {
  const info = doc.info as { title: string; version: string; description?: string };
  const channels = doc.channels as Record<string, { address: string | null }>;
  const operations = doc.operations as Record<string, Json>;
  const messages = (doc.components as { messages: Record<string, Json> }).messages;
  const messageOf = (r: unknown) => messages[String((r as { $ref: string }).$ref.split("/").pop())];
  const channelOf = (r: unknown) => channels[String((r as { $ref: string }).$ref.split("/").pop())];
  const schema = (m: Json | undefined) => `<pre>${escape(JSON.stringify(m?.payload ?? {}, null, 2))}</pre>`;
  const rows = Object.entries(operations).map(([id, op]) => {
    const channel = channelOf(op.channel);
    const reply = op.reply as { messages: unknown[] } | undefined;
    const extensions = Object.entries(op).filter(([k]) => k.startsWith("x-") || k === "bindings");
    return `<section>
  <h2><span class="${op.action as string}">${op.action as string}</span> <code>${escape(channel?.address ?? "")}</code> <small>${escape(id)}</small></h2>
  ${op.summary ? `<p>${escape(String(op.summary))}</p>` : ""}
  <h3>message</h3>${(op.messages as unknown[]).map((m) => schema(messageOf(m))).join("")}
  ${reply ? `<h3>reply</h3>${reply.messages.map((m) => `<p>${escape(String(messageOf(m)?.name))}</p>${schema(messageOf(m))}`).join("")}` : ""}
  ${extensions.map(([k, v]) => `<h3>${escape(k)}</h3><pre>${escape(JSON.stringify(v, null, 2))}</pre>`).join("")}
</section>`;
  });
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escape(info.title)} ${escape(info.version)}</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}section{border-top:1px solid #ddd;padding:.5rem 0}
pre{background:#f6f6f6;padding:.5rem;overflow:auto}.receive{color:#06c}.send{color:#080}small{color:#888}</style></head>
<body><h1>${escape(info.title)} <small>${escape(info.version)}</small></h1>${info.description ? `<p>${escape(info.description)}</p>` : ""}
<p>AsyncAPI ${escape(doc.asyncapi)} · <a href="asyncapi.yaml">asyncapi.yaml</a> · <a href="asyncapi.json">asyncapi.json</a></p>
${rows.join("\n")}
</body></html>
`;
}

/** `natsflow docs serve <module> [--port]`: the page, and the document as YAML and JSON, until stopped. */
export async function docsServe(spec: string, port: number, host = "127.0.0.1"): Promise<Server> {
  const doc = await documentOf(spec);
  const bodies: Record<string, [string, string]> = {
    "/": ["text/html; charset=utf-8", renderPage(doc)],
    "/asyncapi.yaml": ["application/yaml", stringify(doc, { aliasDuplicateObjects: false })],
    "/asyncapi.json": ["application/json", JSON.stringify(doc, null, 2)],
  };
  const server = createServer((req, res) => {
    // A request target that is no URL (`GET http://[ HTTP/1.1`) is the client's mistake, not a crash.
    // (A request line Node cannot parse at all already gets its 400 from Node.)
    const target = req.url ?? "/";
    if (!URL.canParse(target, "http://x")) {
      res.writeHead(400, { "content-type": "text/plain" });
      res.end("bad request");
      return;
    }
    const body = bodies[new URL(target, "http://x").pathname];
    res.writeHead(body ? 200 : 404, { "content-type": body?.[0] ?? "text/plain" });
    res.end(body?.[1] ?? "not found");
  });
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  return server;
}
