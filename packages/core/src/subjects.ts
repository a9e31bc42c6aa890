/** Subject syntax as nats-server accepts it: dot-separated non-empty tokens, no whitespace. */
const WHITESPACE = /[\s]/;

/** A subject to publish on: no wildcards. */
export function isValidSubject(subject: string): boolean {
  return checkTokens(subject, false);
}

/** A subject to subscribe to or to allow/deny: `*` tokens anywhere, `>` as the last token. */
export function isValidSubjectFilter(subject: string): boolean {
  return checkTokens(subject, true);
}

function checkTokens(subject: string, wildcards: boolean): boolean {
  if (typeof subject !== "string" || subject.length === 0 || WHITESPACE.test(subject)) return false;
  const tokens = subject.split(".");
  return tokens.every((t, i) => {
    if (t.length === 0) return false;
    if (t === "*") return wildcards;
    if (t === ">") return wildcards && i === tokens.length - 1;
    return true;
  });
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
  if (dup) return `"${full}" names ${dup.slice(11)} twice`;
  const filter = tokens.join(".");
  if (/[{}]/.test(filter)) return `"${full}" has a malformed {param} token (a whole token like {id}, letters, digits and _)`;
  if (!isValidSubjectFilter(filter)) return `"${full}" is not a valid NATS subject`;
  return { filter, params };
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
