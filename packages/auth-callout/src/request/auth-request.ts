import type { AuthorizationRequest, ClientInfo, ClientTls, ConnectOpts, ServerId } from "@nats-io/jwt";

import type { JwtClaims } from "../jwt/jwt.js";

export type { AuthorizationRequest, ClientInfo, ClientTls, ConnectOpts, ServerId } from "@nats-io/jwt";

/** The verified `authorization_request` JWT's claims. */
export type AuthorizationRequestClaims = JwtClaims<AuthorizationRequest>;

/**
 * What the server asks about one connecting client, already decrypted and verified.
 * Everything here comes from the client except `server` and `userNkey`; treat it as untrusted input.
 */
export class AuthRequest {
  constructor(
    readonly claims: AuthorizationRequestClaims,
    private readonly deadlineSource: { readonly signal: AbortSignal; readonly at: number },
  ) {}

  /** Aborted when the deadline passes: pass it to database or HTTP calls. */
  get signal(): AbortSignal {
    return this.deadlineSource.signal;
  }

  /** Epoch ms after which the answer is no longer awaited. */
  get deadline(): number {
    return this.deadlineSource.at;
  }

  /** The nats-server asking: `id` (its `N…` key), `name`, `host`, `version`, `cluster`, `tags`, `xkey`. */
  get server(): ServerId {
    return this.claims.nats.server_id;
  }

  /** The key the server made for this connection; the user JWT is issued to it. */
  get userNkey(): string {
    return this.claims.nats.user_nkey;
  }

  /** host, id, kind, type (`websocket`, `mqtt`, `leafnode`…), name_tag, tags, nonce. */
  get clientInfo(): ClientInfo {
    return this.claims.nats.client_info ?? {};
  }

  /** What the client sent in CONNECT: user, pass, auth_token, jwt, nkey, sig, name, lang, version. */
  get connectOpts(): ConnectOpts {
    return this.claims.nats.connect_opts ?? { protocol: 0 };
  }

  /** TLS details when the client connected over TLS: version, cipher, PEM certs or verified chains. */
  get clientTls(): ClientTls | undefined {
    return this.claims.nats.client_tls;
  }

  /** The nonce the client signed (present when the server issues nonces: nkey users or operator mode). */
  get nonce(): string | undefined {
    return this.clientInfo.nonce ?? this.claims.nats.request_nonce;
  }

  get tags(): readonly string[] {
    return this.claims.nats.tags ?? [];
  }

  get username(): string | undefined {
    return this.connectOpts.user || undefined;
  }

  get password(): string | undefined {
    return this.connectOpts.pass || undefined;
  }

  get token(): string | undefined {
    return this.connectOpts.auth_token || undefined;
  }

  /** A user JWT the client presented (operator mode only; config mode servers drop it). */
  get jwt(): string | undefined {
    return this.connectOpts.jwt || undefined;
  }

  /** The public nkey the client presented (`U…`), with `sig` its signature of the nonce. */
  get nkey(): string | undefined {
    return this.connectOpts.nkey || undefined;
  }

  /** Milliseconds left before the deadline. */
  get remainingMs(): number {
    return Math.max(0, this.deadline - Date.now());
  }
}
