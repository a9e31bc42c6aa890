import { InvalidHeaderError, InvalidSubjectError, quoted } from "./errors.js";
import type { HeadersInit, JetStreamPublishOptions } from "./transport/transport.js";

/*
 * What may go on the wire, checked once for every transport (the `nats` client checks almost
 * nothing: a CR/LF in a subject writes a protocol line of its own). Each check is one pass over the
 * characters, with no regular expression: publishing is on every handler's hot path.
 */

/**
 * The longest subject, reply subject or queue group natsflow sends, in UTF-8 bytes. nats-server
 * closes a connection whose protocol line exceeds its `max_control_line` (4096 by default); a
 * subject, a reply subject and the rest of the line stay well inside it.
 */
export const MAX_SUBJECT_BYTES = 1024;

// How `problem` reads its text: tokens without wildcards, tokens with them, or one name (a queue group).
const LITERAL = 0;
const FILTER = 1;
const NAME = 2;
type Mode = typeof LITERAL | typeof FILTER | typeof NAME;

const DOT = 0x2e;
const STAR = 0x2a;
const GT = 0x3e;

/** Unicode whitespace above ASCII (what `\s` matches there, C1 controls aside). */
function isWideSpace(c: number): boolean {
  return c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff;
}

/** Why the token ending before `end` (a lone `*` or `>`) is not allowed there, if it is one. */
function wildcardProblem(text: string, start: number, end: number, mode: Mode): string | undefined {
  if (end - start !== 1) return undefined;
  const c = text.charCodeAt(start);
  if (c !== STAR && c !== GT) return undefined;
  if (mode === LITERAL) return `a wildcard token (${c === STAR ? "*" : ">"}) where only a literal subject can be`;
  return c === GT && end !== text.length ? "> before the last token" : undefined;
}

/** Why `text` cannot be sent in `mode`, or undefined when it can. */
function problem(text: unknown, mode: Mode): string | undefined {
  if (typeof text !== "string") return `not a string (${typeof text})`;
  const n = text.length;
  if (n === 0) return "empty";
  let bytes = 0;
  let start = 0;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) {
      bytes++;
      if (c <= 0x20 || c === 0x7f) return c === 0x20 ? "a space" : c === 0x09 ? "a tab" : "a control character";
      if (c === DOT && mode !== NAME) {
        if (i === start) return "an empty token";
        const wrong = wildcardProblem(text, start, i, mode);
        if (wrong) return wrong;
        start = i + 1;
      }
    } else if (c <= 0x9f) {
      return "a control character";
    } else if (c >= 0xd800 && c <= 0xdfff) {
      // A surrogate must be the first half of a pair: a lone one is sent as U+FFFD, another subject.
      const next = text.charCodeAt(i + 1);
      if (c >= 0xdc00 || !(next >= 0xdc00 && next <= 0xdfff)) return "a lone surrogate (not valid Unicode)";
      i++;
      bytes += 4;
    } else {
      if (isWideSpace(c)) return "whitespace";
      bytes += c < 0x800 ? 2 : 3;
    }
  }
  if (bytes > MAX_SUBJECT_BYTES) return `longer than ${MAX_SUBJECT_BYTES} bytes`;
  if (mode === NAME) return undefined;
  if (start === n) return "an empty token";
  return wildcardProblem(text, start, n, mode);
}

/** A subject to publish on: dot-separated non-empty tokens, no wildcards, whitespace or control characters. */
export function isValidSubject(subject: string): boolean {
  return problem(subject, LITERAL) === undefined;
}

/** A subject to subscribe to or to allow/deny: `*` tokens anywhere, `>` as the last token. */
export function isValidSubjectFilter(subject: string): boolean {
  return problem(subject, FILTER) === undefined;
}

/** Throws `InvalidSubjectError` unless `subject` is a literal subject (`what` names it in the message). */
export function checkSubject(subject: string, what = "subject"): void {
  const wrong = problem(subject, LITERAL);
  if (wrong) throw new InvalidSubjectError(what, String(subject), wrong);
}

/** Why `queue` cannot be a queue group name (any characters but whitespace and controls), or undefined. */
export function queueProblem(queue: string): string | undefined {
  return problem(queue, NAME);
}

// RFC 9110 `tchar`: what a header name may hold (the `nats` client would take more, HTTP would not).
const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") TCHAR[c.charCodeAt(0)] = 1;

/** A header name: one or more letters, digits and ``!#$%&'*+-.^_`|~`` (an HTTP token). */
export function isValidHeaderName(name: string): boolean {
  if (typeof name !== "string" || name.length === 0) return false;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c >= 0x80 || TCHAR[c] === 0) return false;
  }
  return true;
}

/** A header value may hold anything but control characters (tab aside): CR and LF would end the header block. */
function isHeaderValue(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f) return false;
  }
  return true;
}

function checkHeader(name: string, value: unknown): void {
  if (typeof value !== "string") throw new InvalidHeaderError(name, `a value must be a string, got a ${typeof value}`);
  if (!isHeaderValue(value)) throw new InvalidHeaderError(name, "a value may not hold CR, LF, NUL or another control character");
}

/** Throws `InvalidHeaderError` unless every name and value can be sent. Values are never shown: they may be secrets. */
export function checkHeaders(headers: HeadersInit | undefined): void {
  if (headers === undefined) return;
  for (const name in headers) {
    if (!isValidHeaderName(name)) throw new InvalidHeaderError(name, "a name may hold letters, digits and !#$%&'*+-.^_`|~ only");
    const value = headers[name];
    if (typeof value === "string") checkHeader(name, value);
    else if (Array.isArray(value)) for (const v of value) checkHeader(name, v);
    else checkHeader(name, value);
  }
}

/**
 * `text` made fit for a header value: runs of control characters (CR and LF among them) become one
 * space, and it is cut to `max` characters. For text natsflow puts in headers itself, like errors.
 */
export function headerText(text: string, max: number): string {
  const cut = text.length > max ? text.slice(0, max) : text;
  return isHeaderValue(cut) ? cut : cut.replace(/[\u0000-\u0008\u000a-\u001f\u007f]+/g, " ");
}

/**
 * What every `Transport` checks before a publish or a request leaves: the subject, the reply subject
 * and the headers. Throws `InvalidSubjectError` or `InvalidHeaderError`; then nothing was sent.
 */
export function checkSend(subject: string, reply: string | undefined, headers: HeadersInit | undefined): void {
  checkSubject(subject);
  if (reply !== undefined) checkSubject(reply, "reply subject");
  checkHeaders(headers);
}

/** `checkSend` for a JetStream publish: its `msgId` and expected stream travel as headers too. */
export function checkJetStreamSend(subject: string, options: JetStreamPublishOptions | undefined): void {
  checkSubject(subject);
  if (options === undefined) return;
  checkHeaders(options.headers);
  if (options.msgId !== undefined) checkHeader("Nats-Msg-Id", options.msgId);
  if (options.expect?.stream !== undefined) checkHeader("Nats-Expected-Stream", options.expect.stream);
}

/** What every `Transport` checks before it subscribes: the subject filter and the queue group name. */
export function checkSubscription(subject: string, queue: string | undefined): void {
  const wrong = problem(subject, FILTER);
  if (wrong) throw new InvalidSubjectError("subject filter", String(subject), wrong);
  if (queue === undefined) return;
  const wrongQueue = problem(queue, NAME);
  if (wrongQueue) throw new InvalidSubjectError("queue group", String(queue), wrongQueue);
}

/** Stream and consumer names (one token of the JetStream API's subjects): no dots, wildcards, whitespace or path separators. */
export function isValidJetStreamName(name: unknown): name is string {
  return typeof name === "string" && name.length > 0 && name.length <= 255 && /^[^.*>\s\\/]+$/.test(name);
}

/** Throws `InvalidSubjectError` unless `name` can name a stream or consumer (`what` says which). */
export function checkJetStreamName(what: "stream name" | "consumer name", name: string): void {
  if (!isValidJetStreamName(name)) throw new InvalidSubjectError(what, String(name), "no dots, wildcards, whitespace or slashes");
}

/** A bucket name (KV or object store) is one subject token and part of a stream name: letters, digits, `-` and `_`. */
export function isValidBucketName(name: unknown): name is string {
  return typeof name === "string" && name.length <= MAX_SUBJECT_BYTES && /^[-\w]+$/.test(name);
}

/** Throws `InvalidSubjectError` unless `name` can name a bucket. */
export function checkBucketName(name: string): void {
  if (!isValidBucketName(name)) throw new InvalidSubjectError("bucket name", String(name), "letters, digits, - and _ only");
}

/** A KV key's characters, as the `nats` client allows them: letters, digits and `-/=_.`. */
function isKeyChar(c: number, filter: boolean): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f || c === 0x2d || c === 0x2f || c === 0x3d || c === DOT || (filter && (c === STAR || c === GT));
}

/**
 * Throws `InvalidSubjectError` unless `key` can be a KV key (the last tokens of the subject
 * `$KV.<bucket>.<key>`), or with `filter`, a key filter with `*` and `>` tokens.
 */
export function checkKvKey(key: string, filter = false): void {
  const what = filter ? "KV key filter" : "KV key";
  const wrong = problem(key, filter ? FILTER : LITERAL);
  if (wrong) throw new InvalidSubjectError(what, String(key), wrong);
  for (let i = 0; i < key.length; i++) {
    if (!isKeyChar(key.charCodeAt(i), filter)) throw new InvalidSubjectError(what, key, "letters, digits and - / = _ . only");
  }
}

export interface CompiledSubject {
  /** What to subscribe to: every `{name}` token became `*`. */
  readonly filter: string;
  /** Token position of each named parameter. */
  readonly params: ReadonlyMap<string, number>;
}

const PARAM_TOKEN = /^\{([A-Za-z_][A-Za-z0-9_]*)\}$/;

/**
 * Joins a controller prefix and a handler subject and compiles `{name}` tokens to `*` wildcards.
 * Returns an error message instead of throwing, so the caller can name the handler.
 */
export function compileSubject(prefix: string | undefined, subject: string): CompiledSubject | string {
  const full = prefix ? `${prefix}.${subject}` : subject;
  const params = new Map<string, number>();
  const tokens = full.split(".").map((token, i) => {
    const m = PARAM_TOKEN.exec(token);
    if (!m) return token;
    const name = m[1] as string;
    if (params.has(name)) return `\u0000duplicate {${name}}`;
    params.set(name, i);
    return "*";
  });
  const dup = tokens.find((t) => t.startsWith("\u0000"));
  if (dup) return `${quoted(full)} names ${dup.slice(11)} twice`;
  const filter = tokens.join(".");
  if (/[{}]/.test(filter)) return `${quoted(full)} has a malformed {param} token (a whole token like {id}, letters, digits and _)`;
  const wrong = problem(filter, FILTER);
  if (wrong) return `${quoted(full)} is not a valid NATS subject: ${wrong}`;
  return { filter, params };
}

/**
 * The value of each `{param}` of a subject that arrived, checked: a client that publishes on a
 * wildcard (`orders.*.get`) reaches a `{id}` handler with `*` as its id, which no handler means to
 * take. Returns the name of the first parameter that is empty, `*` or `>`, or undefined.
 */
export function wildcardParam(subject: string, params: ReadonlyMap<string, number>): string | undefined {
  const tokens = subject.split(".");
  for (const [name, position] of params) {
    const value = tokens[position];
    if (value === undefined || value === "" || value === "*" || value === ">") return name;
  }
  return undefined;
}

/** Whether every subject `subject` (itself possibly a filter) can match is also matched by `filter`. */
export function filterCovers(filter: string, subject: string): boolean {
  const f = filter.split(".");
  const s = subject.split(".");
  for (let i = 0; i < f.length; i++) {
    const token = s[i];
    if (token === undefined) return false;
    if (f[i] === ">") return true;
    if (f[i] === "*" ? token === ">" : token !== f[i]) return false;
  }
  return f.length === s.length;
}

/** Whether some subject matches both filters. */
export function filtersOverlap(a: string, b: string): boolean {
  const x = a.split(".");
  const y = b.split(".");
  for (let i = 0; ; i++) {
    const p = x[i];
    const q = y[i];
    // ">" takes one token or more: it overlaps whatever still has one.
    if (p === ">") return q !== undefined;
    if (q === ">") return p !== undefined;
    if (p === undefined || q === undefined) return p === q;
    if (p !== "*" && q !== "*" && p !== q) return false;
  }
}
