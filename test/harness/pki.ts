import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

/** Paths of the throwaway certificates and keys of one local control plane. */
export interface Pki {
  caCert: string;
  caKey: string;
  servingCert: string;
  servingKey: string;
  adminCert: string;
  adminKey: string;
  /** A second admin identity (CN gpulease-operator) so the audit log tells the operator's writes apart. */
  operatorCert: string;
  operatorKey: string;
  serviceAccountKey: string;
  serviceAccountPub: string;
}

function openssl(args: string[], cwd: string): void {
  execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
}

/**
 * Creates a CA, a serving certificate for the API server on loopback, two admin client certificates
 * (group system:masters: gpulease-admin for tests and tools, gpulease-operator for the operator) and
 * the service-account signing key pair, all with openssl.
 */
export function createPki(dir: string): Pki {
  const p = (name: string) => join(dir, name);
  const days = "30";
  openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key"], dir);
  openssl(
    [
      "req",
      "-x509",
      "-new",
      "-key",
      "ca.key",
      "-sha256",
      "-days",
      days,
      "-subj",
      "/CN=gpulease-local-ca",
      "-out",
      "ca.crt",
    ],
    dir,
  );

  const issue = (name: string, subject: string, extensions: string) =>
    issueCertificate(dir, name, subject, extensions);
  issue(
    "apiserver",
    "/CN=kube-apiserver",
    [
      "basicConstraints=CA:FALSE",
      "keyUsage=digitalSignature,keyEncipherment",
      "extendedKeyUsage=serverAuth",
      "subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc",
    ].join("\n"),
  );
  const clientExtensions = [
    "basicConstraints=CA:FALSE",
    "keyUsage=digitalSignature,keyEncipherment",
    "extendedKeyUsage=clientAuth",
  ].join("\n");
  issue("admin", "/O=system:masters/CN=gpulease-admin", clientExtensions);
  issue("operator", "/O=system:masters/CN=gpulease-operator", clientExtensions);
  openssl(["genrsa", "-out", "sa.key", "2048"], dir);
  openssl(["rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub"], dir);
  return {
    caCert: p("ca.crt"),
    caKey: p("ca.key"),
    servingCert: p("apiserver.crt"),
    servingKey: p("apiserver.key"),
    adminCert: p("admin.crt"),
    adminKey: p("admin.key"),
    operatorCert: p("operator.crt"),
    operatorKey: p("operator.key"),
    serviceAccountKey: p("sa.key"),
    serviceAccountPub: p("sa.pub"),
  };
}

/** Issues `<name>.crt` and `<name>.key` in `dir`, signed by the CA there (ca.crt, ca.key). */
function issueCertificate(dir: string, name: string, subject: string, extensions: string): void {
  const days = "30";
  openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", `${name}.key`], dir);
  openssl(["req", "-new", "-key", `${name}.key`, "-subj", subject, "-out", `${name}.csr`], dir);
  writeFileSync(join(dir, `${name}.ext`), extensions);
  openssl(
    [
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-days",
      days,
      "-sha256",
      "-extfile",
      `${name}.ext`,
      "-out",
      `${name}.crt`,
    ],
    dir,
  );
}

/**
 * A serving certificate for 127.0.0.1 signed by the harness CA, as `tls.crt` and `tls.key` in `dir`
 * (the names controller-runtime's webhook server reads): for webhooks served on loopback.
 */
export function issueLoopbackServingCert(pki: Pki, dir: string): { certDir: string } {
  const cert = join(dirname(pki.caCert), "webhook");
  const pkiDir = dirname(pki.caCert);
  issueCertificate(
    pkiDir,
    "webhook",
    "/CN=127.0.0.1",
    [
      "basicConstraints=CA:FALSE",
      "keyUsage=digitalSignature,keyEncipherment",
      "extendedKeyUsage=serverAuth",
      "subjectAltName=IP:127.0.0.1,DNS:localhost",
    ].join("\n"),
  );
  mkdirSync(dir, { recursive: true });
  copyFileSync(`${cert}.crt`, join(dir, "tls.crt"));
  copyFileSync(`${cert}.key`, join(dir, "tls.key"));
  return { certDir: dir };
}
