/**
 * What natsflow writes on the socket, against a real nats-server: a subject built from payload data
 * cannot write protocol lines of its own (the `nats` client checks nothing), and no generated
 * subject, reply subject, queue group, `{param}` value or header reaches the server unchecked or
 * makes it drop the service's connection. A raw `nats` subscriber on `>` sees what arrives.
 */
import "reflect-metadata";

import {
  Broker,
  connectNats,
  Controller,
  InvalidHeaderError,
  InvalidSubjectError,
  NatsApp,
  Param,
  Payload,
  reply,
  Subscribe,
  type NatsAppOptions,
  type Transport,
  type TransportStatus,
} from "@natsflow/core";
import { captureLogs, startNatsServer, type NatsServer } from "@natsflow/testing";
import fc from "fast-check";
import { connect, StorageType, type MsgHdrs, type NatsConnection } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const enc = new TextEncoder();
const dec = new TextDecoder();

interface Seen {
  subject: string;
  reply: string;
  headers: Array<[string, string[]]>;
  data: string;
}

/** `s` as it arrives: UTF-8 turns a lone surrogate into U+FFFD. */
const wellFormed = (s: string) => dec.decode(enc.encode(s));

const headerList = (h: MsgHdrs | undefined): Array<[string, string[]]> => (h ? h.keys().map((k) => [k, h.values(k)]) : []);

// An oracle written apart from natsflow's validator, from the protocol's rules: a literal subject is
// dot-separated non-empty tokens of well-formed Unicode without whitespace or control characters,
// no `*`/`>` token, at most 1024 UTF-8 bytes; `>` may only be a filter's last token.
const BAD_CHAR = /[\s\p{Cc}]/u;
function oracleSubject(s: string, filter = false): boolean {
  if (s.length === 0 || wellFormed(s) !== s || Buffer.byteLength(s) > 1024 || BAD_CHAR.test(s)) return false;
  const tokens = s.split(".");
  return tokens.every((t, i) => t !== "" && (filter ? t !== ">" || i === tokens.length - 1 : t !== "*" && t !== ">"));
}
const oracleQueue = (q: string) => q.length > 0 && wellFormed(q) === q && Buffer.byteLength(q) <= 1024 && !BAD_CHAR.test(q);
const oracleHeaderName = (n: string) => /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(n);
const oracleHeaderValue = (v: string) => !/[\u0000-\u0008\u000a-\u001f\u007f]/.test(v);
const oracleHeaders = (h: Record<string, string>) => Object.entries(h).every(([k, v]) => oracleHeaderName(k) && oracleHeaderValue(v));

/** Every message on `>`, for a raw client that checks nothing itself. */
async function watchEverything(url: string): Promise<{ nc: NatsConnection; seen: Seen[]; until: (pred: (s: Seen) => boolean) => Promise<void> }> {
  const nc = await connect({ servers: url, name: "wire-watcher" });
  const seen: Seen[] = [];
  nc.subscribe(">", { callback: (_e, m) => seen.push({ subject: m.subject, reply: m.reply ?? "", headers: headerList(m.headers), data: dec.decode(m.data) }) });
  await nc.flush();
  const until = async (pred: (s: Seen) => boolean) => {
    await expect.poll(() => seen.some(pred), { timeout: 20_000 }).toBe(true);
  };
  return { nc, seen, until };
}

/** The server's client id of the connection named `name` (from the monitoring endpoint). */
async function clientId(server: NatsServer, name: string): Promise<number[]> {
  const monitor = server.ports.monitoring?.[0] as string;
  const connz = (await (await fetch(`${monitor}/connz?limit=1024`)).json()) as { connections: Array<{ cid: number; name?: string }> };
  return connz.connections.filter((c) => c.name === name).map((c) => c.cid);
}

/** An app whose connection's status events are recorded: a disconnect would show here. */
async function startApp(server: NatsServer, name: string, options: Partial<NatsAppOptions>): Promise<{ app: NatsApp; statuses: TransportStatus[] }> {
  const statuses: TransportStatus[] = [];
  const app = await NatsApp.create({
    servers: server.url,
    name,
    ...options,
    transport: async (o) => {
      const t = await connectNats(o);
      t.onStatus((s) => statuses.push(s));
      return t;
    },
  });
  await app.start();
  return { app, statuses };
}

const PROTOCOL_TROUBLE = /Parse Error|control line|Slow Consumer|Authorization Violation/i;

let server: NatsServer;
beforeAll(async () => {
  server = await startNatsServer({ jetstream: true, config: { http_port: -1 } });
});
afterAll(async () => {
  await server?.stop();
});

describe("a subject built from payload data", () => {
  @Controller("edge")
  class Audit {
    constructor(private readonly broker: Broker) {}

    @Subscribe("audit")
    audit(@Payload() p: { tenant: string }) {
      this.broker.publish(`audit.${p.tenant}`, { event: "audited" });
      return { logged: true };
    }
  }

  const logs = captureLogs();
  let app: NatsApp;
  let statuses: TransportStatus[];
  let watcher: Awaited<ReturnType<typeof watchEverything>>;
  let client: NatsConnection;

  beforeAll(async () => {
    ({ app, statuses } = await startApp(server, "edge-service", { controllers: [Audit], logger: logs.logger }));
    watcher = await watchEverything(server.url);
    client = await connect({ servers: server.url, name: "edge-caller" });
  });
  afterAll(async () => {
    await client?.close();
    await watcher?.nc.close();
    await app?.stop();
  });

  const audit = (tenant: string) => client.request("edge.audit", enc.encode(JSON.stringify({ tenant })), { timeout: 3000 });

  it("cannot inject a PUB line: the caller gets a 500 and an escaped error log, nothing reaches admin.>, the connection stays", async () => {
    const [cid] = await clientId(server, "edge-service");
    expect(cid).toBeDefined();
    // The service publishes with headers (its correlation id): an HPUB line, whose header block the
    // tenant supplies, then a whole PUB of its own, then an HPUB the service's own arguments complete.
    const injected = "x 12 12\r\nNATS/1.0\r\n\r\n\r\nPUB admin.shutdown 2\r\nhi\r\nHPUB audit.y";
    const answer = await audit(injected);
    // A message sent after it, from the same connection: once the watcher has it, anything injected would have arrived.
    app.broker.publish("edge.marker", "after");
    await watcher.until((s) => s.subject === "edge.marker");
    expect(watcher.seen.filter((s) => s.subject.startsWith("admin.") || s.subject.startsWith("audit."))).toEqual([]);
    expect(answer.headers?.get("Nats-Service-Error-Code")).toBe("500");
    expect(answer.headers?.get("Nats-Service-Error")).toBe("internal error");
    const failed = logs.find(/handler failed/).at(-1) as { err: { type: string; message: string } };
    expect(failed.err.type).toBe("InvalidSubjectError");
    expect(failed.err.message).toContain(JSON.stringify(`audit.${injected}`).slice(1, 40));
    expect(failed.err.message).not.toMatch(/[\r\n]/);
    expect(await clientId(server, "edge-service")).toEqual([cid]);
    expect(statuses).toEqual([]);
    expect(server.log).not.toMatch(PROTOCOL_TROUBLE);
  });

  it("refuses the values that made the server drop the connection (a bad PUB line, an overlong one) and keeps serving", async () => {
    const [cid] = await clientId(server, "edge-service");
    for (const tenant of ["x 0\r\n\r\nPUB admin.shutdown 2\r\nhi\r\nPUB audit.y", "x a b c d", "x".repeat(5000), "a b", "a\tb", "a\u0000b", "a..b", "a.>", "*", ""]) {
      const answer = await audit(tenant);
      expect(answer.headers?.get("Nats-Service-Error-Code"), JSON.stringify(tenant).slice(0, 40)).toBe("500");
    }
    const ok = await audit("acme");
    expect(JSON.parse(dec.decode(ok.data))).toEqual({ logged: true });
    await watcher.until((s) => s.subject === "audit.acme");
    expect(watcher.seen.filter((s) => s.subject.startsWith("audit.")).map((s) => s.subject)).toEqual(["audit.acme"]);
    expect(await clientId(server, "edge-service")).toEqual([cid]);
    expect(statuses).toEqual([]);
    expect(server.log).not.toMatch(PROTOCOL_TROUBLE);
  });
});

describe("generated subjects, params, reply subjects, queue groups and headers (fast-check)", () => {
  const SEED = 1717;
  // Characters that break a protocol line or a subject, mixed with ordinary ones.
  const nasty = fc.constantFrom("\r", "\n", "\r\n", "\u0000", " ", "\t", "*", ">", ".", "..", "\u00a0", "\u2028", "\u007f", "\u0085", "\ud800", "\udc00", "é", "😀", "PUB x 1", ":", "a", "b1", "-", "_", "$");
  const token = fc.stringMatching(/^[A-Za-z0-9_-]{1,8}$/);
  const piece = fc.oneof(
    { weight: 3, arbitrary: token },
    { weight: 2, arbitrary: nasty },
    { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 10 }) },
    { weight: 1, arbitrary: fc.string({ unit: "grapheme-ascii", maxLength: 10 }) },
  );
  const tail = fc.oneof(
    { weight: 4, arbitrary: fc.array(token, { minLength: 1, maxLength: 4 }).map((t) => t.join(".")) },
    { weight: 5, arbitrary: fc.array(piece, { maxLength: 6 }).map((p) => p.join("")) },
    { weight: 1, arbitrary: fc.integer({ min: 900, max: 1100 }).map((n) => "y".repeat(n)) },
  );
  const headerName = fc.oneof(
    { weight: 3, arbitrary: fc.stringMatching(/^X-[A-Za-z0-9-]{1,12}$/) },
    { weight: 1, arbitrary: fc.array(piece, { minLength: 1, maxLength: 3 }).map((p) => `X-${p.join("")}`) },
  );
  const headerValue = fc.oneof({ weight: 2, arbitrary: fc.string({ maxLength: 20 }) }, { weight: 2, arbitrary: fc.array(piece, { maxLength: 5 }).map((p) => p.join("")) });
  const headers = fc.dictionary(headerName, headerValue, { maxKeys: 2 });
  const sample = <T>(arb: fc.Arbitrary<T>, numRuns: number, offset: number) => fc.sample(arb, { numRuns, seed: SEED + offset });

  /** What the handler published, by request id: only publishes the validator accepted. */
  const handlerPublished = new Map<number, { subject: string; headers: Record<string, string> }>();

  @Controller("fz")
  class Fuzz {
    constructor(private readonly broker: Broker) {}

    @Subscribe("param.{p}")
    param(@Param("p") p: string, @Payload() body: { i: number; tail: string; headers: Record<string, string>; replyHeaders: Record<string, string> }) {
      const subject = `fz.out.${p}.${body.tail}`;
      this.broker.publish(subject, String(body.i), { headers: body.headers });
      handlerPublished.set(body.i, { subject, headers: body.headers });
      return reply({ p }, { headers: body.replyHeaders });
    }

    @Subscribe("req.>", { codec: "string" })
    req() {
      return "ok";
    }
  }

  let app: NatsApp;
  let statuses: TransportStatus[];
  let client: Transport;
  const clientStatuses: TransportStatus[] = [];
  let watcher: Awaited<ReturnType<typeof watchEverything>>;

  beforeAll(async () => {
    // The stream the JetStream publishes go to; the app only publishes.
    const setup = await connect({ servers: server.url });
    await (await setup.jetstreamManager()).streams.add({ name: "FUZZ", subjects: ["fz.js.>"], storage: StorageType.Memory });
    await setup.close();
    ({ app, statuses } = await startApp(server, "fuzz-service", { controllers: [Fuzz], logger: captureLogs("fatal").logger }));
    client = await connectNats({ servers: server.url, name: "fuzz-client" });
    client.onStatus((s) => clientStatuses.push(s));
    watcher = await watchEverything(server.url);
  });
  afterAll(async () => {
    await client?.close();
    await watcher?.nc.close();
    await app?.stop();
  });

  /** Calls `send` and says whether it was sent (true) or refused by the validator (false); anything else fails the test. */
  const outcome = async (send: () => unknown): Promise<boolean> => {
    try {
      await send();
      return true;
    } catch (e) {
      if (e instanceof InvalidSubjectError || e instanceof InvalidHeaderError) return false;
      throw e;
    }
  };

  it("sends exactly what the validator accepts, only valid subjects and headers reach the server, and no connection is dropped", async () => {
    const [appCid] = await clientId(server, "fuzz-service");
    const [clientCid] = await clientId(server, "fuzz-client");
    const sent = new Map<string, { subject: string; headers: Record<string, string> }>();
    let samples = 0;
    let accepted = 0;
    const expectAgreement = (ok: boolean, valid: boolean, what: unknown) => {
      samples++;
      if (ok) accepted++;
      if (ok !== valid) expect.fail(`validator ${ok ? "accepted" : "refused"} ${JSON.stringify(what)}; the oracle says ${valid ? "valid" : "invalid"}`);
    };

    // 1. Broker.publish: subjects and headers.
    for (const [n, [t, h]] of sample(fc.tuple(tail, headers), 6000, 1).entries()) {
      const id = `pub-${n}`;
      const subject = `fz.pub.${t}`;
      const ok = await outcome(() => app.broker.publish(subject, id, { headers: h }));
      expectAgreement(ok, oracleSubject(subject) && oracleHeaders(h), { subject, h });
      if (ok) sent.set(id, { subject, headers: h });
    }

    // 2. Broker.request, answered by the app's own handler.
    const requests = sample(fc.tuple(tail, headers), 1500, 2);
    for (let b = 0; b < requests.length; b += 250) {
      await Promise.all(requests.slice(b, b + 250).map(async ([t, h], k) => {
        const id = `req-${b + k}`;
        const subject = `fz.req.${t}`;
        const ok = await outcome(() => app.broker.request(subject, id, { headers: h, timeoutMs: 10_000, replyCodec: "string" }));
        expectAgreement(ok, oracleSubject(subject) && oracleHeaders(h), { subject, h });
        if (ok) sent.set(id, { subject, headers: h });
      }));
    }

    // 3. JetStream publishes, with generated message ids (sent as a header).
    const published = sample(fc.tuple(tail, headers, fc.option(headerValue, { nil: undefined })), 1000, 3);
    for (let b = 0; b < published.length; b += 100) {
      await Promise.all(published.slice(b, b + 100).map(async ([t, h, msgId], k) => {
        const id = `js-${b + k}`;
        const subject = `fz.js.${t}`;
        const ok = await outcome(() => app.broker.jetstream.publish(subject, id, { headers: h, ...(msgId !== undefined ? { msgId: `${id}-${msgId}` } : {}) }));
        expectAgreement(ok, oracleSubject(subject) && oracleHeaders(h) && (msgId === undefined || oracleHeaderValue(msgId)), { subject, h, msgId });
        if (ok) sent.set(id, { subject, headers: h });
      }));
    }

    // 4. Through a handler: a {param} value on the way in, a subject and headers it publishes with,
    // and the headers of its reply. A refused publish or reply header is a 500 to the caller.
    const param = fc.oneof({ weight: 3, arbitrary: token }, { weight: 2, arbitrary: piece }, { weight: 1, arbitrary: tail });
    const calls = sample(fc.record({ p: param, tail, headers, replyHeaders: headers }), 1500, 4);
    for (let b = 0; b < calls.length; b += 250) {
      await Promise.all(calls.slice(b, b + 250).map(async (c, k) => {
        const i = b + k;
        const subject = `fz.param.${c.p}`;
        const valid = oracleSubject(subject);
        // A dot in the value makes it no {p} handler's subject: nothing to answer it.
        if (valid && c.p.includes(".")) return;
        let code: string | undefined;
        const ok = await outcome(async () => {
          const m = await client.request(subject, enc.encode(JSON.stringify({ i, tail: c.tail, headers: c.headers, replyHeaders: c.replyHeaders })), { timeoutMs: 10_000 });
          code = m.headers?.get("Nats-Service-Error-Code");
        });
        expectAgreement(ok, valid, subject);
        if (!ok) return;
        const publishes = oracleSubject(`fz.out.${c.p}.${c.tail}`) && oracleHeaders(c.headers);
        expect(handlerPublished.has(i), JSON.stringify(c)).toBe(publishes);
        expect(code, JSON.stringify(c)).toBe(publishes && oracleHeaders(c.replyHeaders) ? undefined : "500");
      }));
    }
    for (const [i, p] of handlerPublished) sent.set(String(i), p);

    // 5. Reply subjects and queue groups, on a plain transport.
    for (const [n, r] of sample(tail, 500, 5).entries()) {
      const id = `reply-${n}`;
      const replyTo = `fz.rto.${r}`;
      const ok = await outcome(() => client.publish("fz.replied", enc.encode(id), { reply: replyTo }));
      expectAgreement(ok, oracleSubject(replyTo), replyTo);
      if (ok) sent.set(id, { subject: "fz.replied", headers: {} });
    }
    const subs: Array<{ unsubscribe(): void }> = [];
    for (const [f, q] of sample(fc.tuple(tail, fc.option(fc.oneof(token, piece, tail), { nil: undefined })), 500, 6)) {
      const filter = `fz.sub.${f}`;
      const ok = await outcome(() => subs.push(client.subscribe(filter, { queue: q }, () => undefined)));
      expectAgreement(ok, oracleSubject(filter, true) && (q === undefined || oracleQueue(q)), { filter, q });
    }
    await client.flush();
    for (const s of subs) s.unsubscribe();

    // Everything from each connection is in order: the markers come last.
    app.broker.publish("fz.end.app", "");
    client.publish("fz.end.client", new Uint8Array());
    await watcher.until((s) => s.subject === "fz.end.app");
    await watcher.until((s) => s.subject === "fz.end.client");

    expect(samples).toBeGreaterThanOrEqual(10_000);
    expect(accepted).toBeGreaterThan(samples / 4);
    expect(accepted).toBeLessThan(samples);
    // Only valid messages reached the server, from anyone.
    const malformed = watcher.seen.filter((s) => !oracleSubject(s.subject) || (s.reply !== "" && !oracleSubject(s.reply)) || s.headers.some(([k, vs]) => !oracleHeaderName(k) || !vs.every(oracleHeaderValue)));
    expect(malformed).toEqual([]);
    // Exactly the accepted sends arrived, each as it was sent.
    const arrived = new Map(watcher.seen.filter((s) => /^fz\.(pub|req|js|out)\./.test(s.subject) || s.subject === "fz.replied").map((s) => [s.data, s]));
    expect([...arrived.keys()].sort()).toEqual([...sent.keys()].sort());
    for (const [id, want] of sent) {
      const got = arrived.get(id) as Seen;
      expect(got.subject, id).toBe(want.subject);
      for (const [name, value] of Object.entries(want.headers)) expect(got.headers.find(([k]) => k === name)?.[1], `${id} ${name}`).toEqual([wellFormed(value).trim()]);
    }
    // No connection was dropped: the same server client ids, no disconnect, nothing the server complained of.
    expect(await clientId(server, "fuzz-service")).toEqual([appCid]);
    expect(await clientId(server, "fuzz-client")).toEqual([clientCid]);
    expect([...statuses, ...clientStatuses]).toEqual([]);
    expect(server.log).not.toMatch(PROTOCOL_TROUBLE);
  }, 120_000);
});
