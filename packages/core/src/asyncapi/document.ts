import type { ResolvedPublisher } from "../broker/publisher.js";
import { resolveCodec, type CodecOption } from "../codec/codec.js";
import { SERVICE_ERROR_CODE_HEADER, SERVICE_ERROR_HEADER } from "../dispatch/error-reply.js";
import type { HandlerBinding } from "../kinds/kind.js";
import { toJsonSchema } from "./json-schema.js";

type Json = Record<string, unknown>;

/** What the document says about the service as a whole. */
export interface AsyncApiInfo {
  title: string;
  version: string;
  description?: string | undefined;
}

/** An AsyncAPI 3.0 document, as plain JSON. */
export type AsyncApiDocument = Json & { asyncapi: "3.0.0" };

const CONTENT_TYPES: Record<string, string> = { json: "application/json", string: "text/plain", bytes: "application/octet-stream" };
const NATS_BINDING_VERSION = "0.1.0";
const ERROR_MESSAGE = "MicroError";

const ref = (path: string) => ({ $ref: path });

/** Channel, operation and message ids: letters, digits, `_` and `-`, as AsyncAPI wants them. */
function idOf(text: string): string {
  return text.replace(/[{}]/g, "").replace(/[^A-Za-z0-9_-]+/g, "_").replace(/^_+|_+$/g, "") || "root";
}

function contentType(codec: CodecOption | undefined, where: string): string {
  const { name } = resolveCodec(codec, `${where} codec`);
  return CONTENT_TYPES[name] ?? name;
}

/** The error reply every request handler may send, in the NATS micro convention. */
function errorMessage(): Json {
  return {
    name: ERROR_MESSAGE,
    summary: "An error reply: the handler failed (4xx: the request, 5xx: the service).",
    contentType: "application/json",
    headers: {
      type: "object",
      properties: { [SERVICE_ERROR_HEADER]: { type: "string" }, [SERVICE_ERROR_CODE_HEADER]: { type: "string", pattern: "^[0-9]{3}$" } },
      required: [SERVICE_ERROR_HEADER, SERVICE_ERROR_CODE_HEADER],
    },
    payload: {
      type: "object",
      properties: {
        code: { type: "integer" },
        description: { type: "string" },
        issues: { type: "array", items: { type: "object", properties: { path: { type: "string" }, message: { type: "string" } } } },
      },
      required: ["code", "description"],
    },
  };
}

/**
 * Describes every handler of an app from its decorator metadata: a channel per subject (`{param}`
 * tokens as parameters), a receive operation per handler — with its reply (and the micro error
 * reply) when its source answers requests, its queue group as a NATS binding, the `x-natsflow-*`
 * extensions its source adds (a JetStream consumer, a bucket) — and a send operation per `@Publish`
 * target and per declared publisher (with its payload schema).
 */
export async function asyncApiDocument(
  bindings: readonly HandlerBinding[],
  info: AsyncApiInfo,
  servers: readonly string[],
  warn: (message: string) => void,
  publishers: readonly ResolvedPublisher[] = [],
): Promise<AsyncApiDocument> {
  const channels: Record<string, Json> = {};
  const operations: Record<string, Json> = {};
  const messages: Record<string, Json> = { [ERROR_MESSAGE]: errorMessage() };
  const byAddress = new Map<string, string>();
  let errorChannelUsed = false;

  /** The channel at `address` (made once), with `message` added to it. */
  const channel = (address: string | null, params: readonly string[], messageId: string): string => {
    const key = address ?? `\u0000${messageId}`;
    let id = byAddress.get(key);
    if (!id) {
      const base = address === null ? `${messageId}_reply` : idOf(address);
      id = base;
      for (let n = 2; channels[id]; n++) id = `${base}_${n}`;
      byAddress.set(key, id);
      channels[id] = {
        address,
        messages: {},
        ...(params.length > 0 ? { parameters: Object.fromEntries(params.map((p) => [p, { description: `the {${p}} token of the subject` }])) } : {}),
      };
    }
    (channels[id]?.messages as Json)[messageId] = ref(`#/components/messages/${messageId}`);
    return id;
  };

  for (const b of bindings) {
    const { doc, info: handler } = b;
    const source = b.source.doc;
    const opId = idOf(handler.name);
    const payload = await toJsonSchema(doc.description?.schema, handler.name, warn);
    const type = contentType(doc.description?.codec, handler.name);
    const inbound = `${opId}_message`;
    messages[inbound] = { name: inbound, contentType: type, payload };
    const channelId = channel(source.address, doc.params, inbound);
    const operation: Json = {
      action: "receive",
      channel: ref(`#/channels/${channelId}`),
      messages: [ref(`#/channels/${channelId}/messages/${inbound}`)],
      ...(doc.description?.summary ? { summary: doc.description.summary } : {}),
      ...(doc.tags.length > 0 ? { tags: doc.tags.map((name) => ({ name })) } : {}),
      ...(handler.queue ? { bindings: { nats: { queue: handler.queue, bindingVersion: NATS_BINDING_VERSION } } } : {}),
    };
    if (source.replies) {
      // Sent when the message has a reply subject: an inbox, so the reply channel has no fixed address.
      const replyId = `${opId}_reply`;
      messages[replyId] = { name: replyId, contentType: type, payload: {} };
      const replyChannel = channel(null, [], replyId);
      (channels[replyChannel]?.messages as Json)[ERROR_MESSAGE] = ref(`#/components/messages/${ERROR_MESSAGE}`);
      errorChannelUsed = true;
      operation.reply = {
        channel: ref(`#/channels/${replyChannel}`),
        messages: [ref(`#/channels/${replyChannel}/messages/${replyId}`), ref(`#/channels/${replyChannel}/messages/${ERROR_MESSAGE}`)],
      };
    }
    Object.assign(operation, source.extensions);
    // One of several handlers on the channel: which of its messages this one takes.
    if (b.filter) operation["x-natsflow-filter"] = b.filter.doc;
    operations[opId] = operation;
    doc.publishes.forEach((target, i) => {
      const sentId = `${opId}_publish${doc.publishes.length > 1 ? `_${i + 1}` : ""}`;
      messages[sentId] = { name: sentId, contentType: type, payload: {} };
      const sentChannel = channel(target.subject, [], sentId);
      operations[sentId] = {
        action: "send",
        channel: ref(`#/channels/${sentChannel}`),
        messages: [ref(`#/channels/${sentChannel}/messages/${sentId}`)],
        summary: `What ${handler.name} returns${target.stream ? `, stored in stream ${target.stream.config.name}` : ""}.`,
        ...(target.stream ? { "x-natsflow-jetstream": { stream: target.stream.config.name, pubAck: true } } : {}),
      };
    });
  }
  for (const p of publishers) {
    const base = `publish_${idOf(p.name)}`;
    let sentId = base;
    for (let n = 2; operations[sentId]; n++) sentId = `${base}_${n}`;
    messages[sentId] = { name: sentId, contentType: contentType(p.codecOption, p.name), payload: await toJsonSchema(p.schema, p.name, warn) };
    const sentChannel = channel(p.subject, [], sentId);
    operations[sentId] = {
      action: "send",
      channel: ref(`#/channels/${sentChannel}`),
      messages: [ref(`#/channels/${sentChannel}/messages/${sentId}`)],
      ...(p.description ? { summary: p.description } : {}),
      ...(p.stream ? { "x-natsflow-jetstream": { stream: p.stream.config.name, pubAck: true } } : {}),
    };
  }
  if (!errorChannelUsed) delete messages[ERROR_MESSAGE];
  return {
    asyncapi: "3.0.0",
    info: { title: info.title, version: info.version, ...(info.description ? { description: info.description } : {}) },
    ...(servers.length > 0 ? { servers: Object.fromEntries(servers.map((url, i) => [`nats${i + 1}`, serverObject(url)])) } : {}),
    defaultContentType: "application/json",
    channels,
    operations,
    components: { messages },
  };
}

function serverObject(url: string): Json {
  const parsed = new URL(url.includes("://") ? url : `nats://${url}`);
  // Credentials in a server URL stay out of the document.
  return { host: parsed.port ? `${parsed.hostname}:${parsed.port}` : parsed.hostname, protocol: parsed.protocol.replace(/:$/, "") };
}
