import { X509Certificate } from "node:crypto";

import { AuthError } from "../errors.js";
import type { AuthRequest } from "../request/auth-request.js";

export interface ClientCertificate {
  /** The client's own certificate (the first of the chain). */
  certificate: X509Certificate;
  /** Leaf first; ends at the CA when the server verified it. */
  chain: X509Certificate[];
  /** True when the server verified the chain against its CA (`tls { verify: true }`). */
  verified: boolean;
  /** The subject as `CN=…` lines, Node's format. */
  subject: string;
  commonName: string | undefined;
  /** `DNS:…`, `email:…`, `URI:…`, `IP Address:…` entries. */
  subjectAltNames: string[];
  /** SHA-256 fingerprint, `AA:BB:…`: a stable key to map a certificate to a user. */
  fingerprint256: string;
}

function parse(pem: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (e) {
    throw new AuthError("client certificate cannot be parsed", { cause: e });
  }
}

/**
 * The certificate the client presented over TLS, parsed. With `requireVerified` (the default) only a
 * chain the server verified against its CA is accepted: unverified certificates are just claims.
 */
export function clientCertificate(request: AuthRequest, options: { requireVerified?: boolean } = {}): ClientCertificate {
  const tls = request.clientTls;
  const verifiedChain = tls?.verified_chains?.[0];
  const pems = verifiedChain ?? tls?.certs;
  if (!pems || pems.length === 0) throw new AuthError("no client certificate presented");
  const verified = verifiedChain !== undefined;
  if (!verified && options.requireVerified !== false) throw new AuthError("client certificate was not verified by the server");
  const chain = pems.map(parse);
  const certificate = chain[0] as X509Certificate;
  const commonName = /^CN=(.*)$/m.exec(certificate.subject)?.[1];
  return {
    certificate,
    chain,
    verified,
    subject: certificate.subject,
    commonName,
    subjectAltNames: (certificate.subjectAltName ?? "").split(/,\s*/).filter(Boolean),
    fingerprint256: certificate.fingerprint256,
  };
}
