import { createContextKey } from "@natsflow/core";

import type { AuthRequest } from "../request/auth-request.js";

/** Where an answer goes: known as soon as the request's claims parse, before they are trusted. */
export interface ReplyAddress {
  readonly userNkey: string;
  readonly serverId: string;
}

export const AUTH_REQUEST = createContextKey<AuthRequest>("auth-callout.request");
export const REPLY_ADDRESS = createContextKey<ReplyAddress>("auth-callout.address");
/** The server's curve key when the request came sealed: the answer is sealed back to it. */
export const SEALED_BY = createContextKey<string>("auth-callout.sealed-by");
