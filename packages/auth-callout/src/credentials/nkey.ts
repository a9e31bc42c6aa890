import { AuthError } from "../errors.js";
import { isPublicKey } from "../keys/nkeys.js";
import type { AuthRequest } from "../request/auth-request.js";
import { verifyNonceSignature } from "./nonce-signature.js";

/**
 * The client's NKey (`U…`), once it has proven it holds the private key by signing the server's nonce.
 * Look the key up in your directory to decide what it may do.
 */
export function verifyNkey(request: AuthRequest): string {
  const nkey = request.nkey;
  if (!nkey) throw new AuthError("no nkey presented");
  if (!isPublicKey(nkey, "user")) throw new AuthError("presented nkey is not a user public key");
  verifyNonceSignature(request, nkey);
  return nkey;
}
