import { AuthError } from "../errors.js";
import { verifyEd25519 } from "../keys/ed25519.js";
import type { AuthRequest } from "../request/auth-request.js";

const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;

/** Clients send the nonce signature base64-encoded, URL-safe or not; nats-server accepts both. */
function signatureBytes(sig: string): Buffer | undefined {
  if (!BASE64.test(sig)) return undefined;
  const bytes = Buffer.from(sig.replace(/-/g, "+").replace(/_/g, "/"), "base64");
  return bytes.length === 64 ? bytes : undefined;
}

/**
 * Checks that `publicKey` (a `U…` key) signed this connection's nonce. A signature without a nonce
 * is refused: a signature over nothing can be replayed by anyone who saw it.
 */
export function verifyNonceSignature(request: AuthRequest, publicKey: string): void {
  const { sig } = request.connectOpts;
  const nonce = request.nonce;
  if (!sig) throw new AuthError("no nonce signature presented");
  if (!nonce) throw new AuthError("the server issued no nonce, so the signature cannot be checked (configure an nkey user or use operator mode)");
  const signature = signatureBytes(sig);
  if (!signature || !verifyEd25519(publicKey, "user", Buffer.from(nonce), signature)) {
    throw new AuthError("nonce signature does not verify");
  }
}
