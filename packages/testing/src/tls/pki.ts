import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface CertificateFiles {
  certFile: string;
  keyFile: string;
}

export interface TestPki {
  dir: string;
  caFile: string;
  /** For 127.0.0.1 / localhost. */
  server: CertificateFiles;
  /** Issues a client certificate with this common name and optional SAN entries (`email:…`, `URI:…`). */
  client(commonName: string, subjectAltNames?: string[]): Promise<CertificateFiles>;
  remove(): Promise<void>;
}

/** A throwaway certificate authority, made with the `openssl` command, for TLS tests on loopback. */
export async function createTestPki(name = "natsflow test CA"): Promise<TestPki> {
  const dir = await mkdtemp(join(tmpdir(), "natsflow-pki-"));
  const openssl = (...args: string[]) => run("openssl", args, { cwd: dir });
  const caKey = join(dir, "ca.key");
  const caFile = join(dir, "ca.pem");
  await openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", caKey, "-out", caFile, "-days", "2", "-subj", `/CN=${name}`);
  let serial = 1;
  const issue = async (file: string, subject: string, ext: string): Promise<CertificateFiles> => {
    const keyFile = join(dir, `${file}.key`);
    const csr = join(dir, `${file}.csr`);
    const certFile = join(dir, `${file}.pem`);
    const extFile = join(dir, `${file}.ext`);
    await writeFile(extFile, ext);
    await openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", keyFile, "-out", csr, "-subj", subject);
    await openssl("x509", "-req", "-in", csr, "-CA", caFile, "-CAkey", caKey, "-set_serial", String(serial++), "-out", certFile, "-days", "2", "-extfile", extFile);
    return { certFile, keyFile };
  };
  const server = await issue("server", "/CN=localhost", "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
  return {
    dir,
    caFile,
    server,
    client: (commonName, sans = []) =>
      issue(`client-${serial}`, `/CN=${commonName}`, `${sans.length ? `subjectAltName=${sans.join(",")}\n` : ""}extendedKeyUsage=clientAuth\n`),
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}
