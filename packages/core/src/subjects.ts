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
