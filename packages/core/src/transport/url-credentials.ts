import { SetupError } from "../errors.js";
import type { ConnectionOptions } from "./transport.js";

/**
 * Moves credentials written into server URLs (`nats://user:pass@host`, `nats://token@host`, as the Go
 * client and the CLI accept them) into the connection options, and returns URLs without them, so
 * they can be logged. Credentials given as options win only if the URLs carry none.
 */
const WITH_CREDENTIALS = /^([a-z]+:\/\/)([^@/]*)@(.*)$/i;

/** Whether any of `servers` carries credentials in its URL. */
export function hasUrlCredentials(servers: string | readonly string[]): boolean {
  return [servers].flat().some((s) => WITH_CREDENTIALS.test(s));
}

export function withUrlCredentials(options: ConnectionOptions): ConnectionOptions {
  const list = Array.isArray(options.servers) ? options.servers : [options.servers];
  let found: { user?: string; pass?: string; token?: string } | undefined;
  const servers = list.map((server) => {
    const m = WITH_CREDENTIALS.exec(server);
    if (!m) return server;
    const [, scheme, userinfo = "", rest] = m;
    const colon = userinfo.indexOf(":");
    const creds =
      colon === -1
        ? { token: decodeURIComponent(userinfo) }
        : { user: decodeURIComponent(userinfo.slice(0, colon)), pass: decodeURIComponent(userinfo.slice(colon + 1)) };
    found ??= creds;
    return `${scheme}${rest}`;
  });
  if (!found) return options;
  if (options.user !== undefined || options.token !== undefined || options.creds !== undefined) {
    throw new SetupError("servers", "carry credentials in a URL and in the options too.", "give them in one place.");
  }
  return { ...options, ...found, servers };
}
