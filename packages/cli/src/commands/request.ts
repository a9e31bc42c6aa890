import { connectNats, SERVICE_ERROR_CODE_HEADER, SERVICE_ERROR_HEADER, type ConnectionOptions, type InboundMessage } from "@natsflow/core";

import { UsageError } from "../app-module.js";

export interface TalkOptions {
  server: string;
  /** `name=value` pairs. */
  headers: string[];
  timeoutMs: number;
  connection?: Omit<ConnectionOptions, "servers">;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The body as given, UTF-8: JSON is text like any other. */
function body(text: string | undefined): Uint8Array {
  if (text === undefined) return new Uint8Array(0);
  return encoder.encode(text);
}

function headersOf(pairs: string[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const pair of pairs) {
    const at = pair.indexOf("=");
    if (at < 1) throw new UsageError(`--header ${pair}: write it as name=value`);
    (out[pair.slice(0, at)] ??= []).push(pair.slice(at + 1));
  }
  return out;
}

/** The reply's payload for a terminal: pretty JSON when it is JSON, else the text. */
function show(message: InboundMessage): string {
  const text = decoder.decode(message.data);
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

/**
 * `natsflow request <subject> [body]`: prints the reply; an error reply in the NATS micro convention
 * prints as `404 order 7 not found` and exits 1.
 */
export async function request(subject: string, text: string | undefined, options: TalkOptions): Promise<number> {
  const transport = await connectNats({ servers: options.server, ...options.connection });
  try {
    const reply = await transport.request(subject, body(text), { timeoutMs: options.timeoutMs, headers: headersOf(options.headers) });
    const code = reply.headers?.get(SERVICE_ERROR_CODE_HEADER);
    if (code) {
      process.stderr.write(`${code} ${reply.headers?.get(SERVICE_ERROR_HEADER) ?? ""}\n`);
      return 1;
    }
    const out = show(reply);
    process.stdout.write(out.length > 0 ? `${out}\n` : "");
    return 0;
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    return 1;
  } finally {
    await transport.close();
  }
}

/** `natsflow publish <subject> [body]`: sends it (flushed to the server) and exits. */
export async function publish(subject: string, text: string | undefined, options: TalkOptions): Promise<number> {
  const transport = await connectNats({ servers: options.server, ...options.connection });
  try {
    transport.publish(subject, body(text), { headers: headersOf(options.headers) });
    await transport.flush();
    return 0;
  } finally {
    await transport.drain();
  }
}
