import type { AuthorizationRequest, ClientInfo, ClientTls, ConnectOpts, User } from "@nats-io/jwt";
import {
  decodeJwt,
  Ed25519Signer,
  encodeJwt,
  REQUEST_AUDIENCE,
  REQUEST_TYPE,
  RESPONSE_TYPE,
  SERVER_XKEY_HEADER,
  verifyJwt,
  XKey,
  type JwtClaims,
} from "@natsflow/auth-callout";

import { newCurveKey } from "@natsflow/devkit";

export interface FakeServerOptions {
  /** Public key of the callout issuer (`auth_callout.issuer`): the request's `sub`. */
  issuer: string;
  /** Public key of the service's xkey (`auth_callout.xkey`); requests are sealed when given. */
  xkey?: string | undefined;
  name?: string;
  /** The server's auth timeout: a request's `exp` is this far ahead. Default 2 s. */
  timeoutSeconds?: number;
  /** Keys that may sign user JWTs (operator mode: the accounts' signing keys). Default: `issuer` only. */
  userIssuers?: string[];
}

/** What a client sends, plus knobs to make the request wrong on purpose. */
export interface MintOptions {
  user?: string;
  pass?: string;
  token?: string;
  jwt?: string;
  nkey?: string;
  sig?: string;
  name?: string;
  clientInfo?: Partial<ClientInfo>;
  connectOpts?: Partial<ConnectOpts>;
  clientTls?: ClientTls;
  tags?: string[];
  /** Edit the claims just before signing (wrong aud, expired exp, …). */
  tamper?: (claims: JwtClaims<Record<string, unknown>> & { nats: Record<string, unknown> }) => void;
  /** Sign with this key instead of the server's. */
  signer?: Ed25519Signer;
  /** Seal even without a configured xkey (true) or send plain despite one (false). */
  seal?: boolean;
  /** Header value to send as the server's xkey instead of the real one. */
  headerXkey?: string;
}

export interface MintedRequest {
  data: Uint8Array;
  headers: Record<string, string> | undefined;
  userNkey: string;
  claims: JwtClaims<AuthorizationRequest>;
}

export interface CalloutAnswer {
  claims: JwtClaims<{ jwt?: string; error?: string; type?: string }>;
  error: string | undefined;
  /** The signed user JWT and its claims, when the answer is a grant. */
  userJwt: string | undefined;
  user: JwtClaims<Partial<User>> | undefined;
}

/**
 * Stands in for nats-server on the service side of an auth callout: mints `authorization_request`
 * JWTs signed by its own server key (sealed to the service's xkey when configured), and opens and
 * checks the answers the way the server does.
 */
export class FakeCalloutServer {
  readonly key = Ed25519Signer.generate("server");
  private readonly curve = XKey.fromSeed(newCurveKey().seed);
  readonly name: string;
  private readonly timeoutSeconds: number;

  constructor(private readonly options: FakeServerOptions) {
    this.name = options.name ?? "fake-nats-server";
    this.timeoutSeconds = options.timeoutSeconds ?? 2;
  }

  get id(): string {
    return this.key.publicKey;
  }

  get xkey(): string {
    return this.curve.publicKey;
  }

  mint(options: MintOptions = {}): MintedRequest {
    const userNkey = Ed25519Signer.generate("user").publicKey;
    const seal = options.seal ?? this.options.xkey !== undefined;
    const now = Math.floor(Date.now() / 1000);
    const connectOpts: Record<string, unknown> = { protocol: 1, lang: "test", version: "0.0.0", ...options.connectOpts };
    for (const k of ["user", "pass", "jwt", "nkey", "sig", "name"] as const) if (options[k] !== undefined) connectOpts[k] = options[k];
    if (options.token !== undefined) connectOpts.auth_token = options.token;
    const claims: JwtClaims<Record<string, unknown>> & { nats: Record<string, unknown> } = {
      iat: now,
      exp: now + this.timeoutSeconds,
      iss: this.key.publicKey,
      sub: this.options.issuer,
      aud: REQUEST_AUDIENCE,
      nats: {
        server_id: { name: this.name, host: "127.0.0.1", id: this.key.publicKey, version: "2.10.27", ...(seal ? { xkey: this.xkey } : {}) },
        user_nkey: userNkey,
        client_info: { host: "127.0.0.1", id: 1, kind: "Client", type: "nats", ...options.clientInfo },
        connect_opts: connectOpts,
        ...(options.clientTls ? { client_tls: options.clientTls } : {}),
        ...(options.tags ? { tags: options.tags } : {}),
        type: REQUEST_TYPE,
        version: 2,
      },
    };
    options.tamper?.(claims);
    const token = Buffer.from(encodeJwt(claims as JwtClaims, options.signer ?? this.key, claims.iat));
    let data: Uint8Array = token;
    let headers: Record<string, string> | undefined;
    if (seal) {
      if (!this.options.xkey) throw new Error("cannot seal: the fake server was given no service xkey");
      data = this.curve.seal(token, this.options.xkey);
      headers = { [SERVER_XKEY_HEADER]: options.headerXkey ?? this.xkey };
    } else if (options.headerXkey) {
      headers = { [SERVER_XKEY_HEADER]: options.headerXkey };
    }
    return { data, headers, userNkey, claims: claims as unknown as JwtClaims<AuthorizationRequest> };
  }

  /** Opens and checks an answer as nats-server does; throws when the server would reject it as malformed. */
  openResponse(data: Uint8Array, request: MintedRequest): CalloutAnswer {
    let bytes = data;
    if (!Buffer.from(data.subarray(0, 3)).equals(Buffer.from("eyJ"))) {
      if (!this.options.xkey) throw new Error("sealed answer but no xkey configured");
      const opened = this.curve.open(data, this.options.xkey);
      if (!opened) throw new Error("cannot open the sealed answer");
      bytes = opened;
    }
    const decoded = decodeJwt<{ jwt?: string; error?: string; type?: string }>(Buffer.from(bytes).toString("utf8"));
    verifyJwt(decoded, "account");
    const { claims } = decoded;
    if (claims.nats.type !== RESPONSE_TYPE) throw new Error(`answer type is ${String(claims.nats.type)}`);
    if (claims.sub !== request.userNkey) throw new Error("answer sub is not the request's user_nkey");
    if (claims.aud !== this.id) throw new Error("answer aud is not the server id");
    let user: JwtClaims<Partial<User>> | undefined;
    if (claims.nats.jwt) {
      const userDecoded = decodeJwt<Partial<User>>(claims.nats.jwt);
      verifyJwt(userDecoded, "account");
      if (!(this.options.userIssuers ?? [this.options.issuer]).includes(userDecoded.claims.iss)) {
        throw new Error("user JWT not signed by a trusted issuer");
      }
      if (userDecoded.claims.sub !== request.userNkey) throw new Error("user JWT sub is not the request's user_nkey");
      user = userDecoded.claims;
    }
    return { claims, error: claims.nats.error || undefined, userJwt: claims.nats.jwt, user };
  }
}
