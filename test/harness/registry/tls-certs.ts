import { mkdir, writeFile, copyFile } from "node:fs/promises";
import { join } from "node:path";
import { runTool } from "../process/run-tool.js";

/** Files of a per-run CA and a server certificate for 127.0.0.1, ::1 and localhost. */
export interface ServerTls {
  caPath: string;
  certPath: string;
  keyPath: string;
  /** Directory containing only `ca.crt` (for skopeo `--cert-dir`). */
  certDir: string;
}

const EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

/** Generates a fresh CA and a CA-signed server certificate (ECDSA P-256) under `dir`. */
export async function generateServerTls(dir: string): Promise<ServerTls> {
  await mkdir(dir, { recursive: true });
  const caKey = join(dir, "ca.key");
  const caPath = join(dir, "ca.crt");
  const keyPath = join(dir, "server.key");
  const csr = join(dir, "server.csr");
  const certPath = join(dir, "server.crt");
  const ext = join(dir, "server.ext");
  await runTool("openssl", [
    "req", "-x509", ...EC_KEY, "-keyout", caKey, "-out", caPath, "-days", "2", "-subj", "/CN=CNB Harness Test CA",
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  await runTool("openssl", ["req", ...EC_KEY, "-keyout", keyPath, "-out", csr, "-subj", "/CN=localhost"]);
  await writeFile(
    ext,
    "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nbasicConstraints=CA:FALSE\n" +
      "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
  );
  await runTool("openssl", [
    "x509", "-req", "-in", csr, "-CA", caPath, "-CAkey", caKey, "-CAcreateserial", "-out", certPath, "-days", "2", "-extfile", ext,
  ]);
  const certDir = join(dir, "certs.d");
  await mkdir(certDir);
  await copyFile(caPath, join(certDir, "ca.crt"));
  return { caPath, certPath, keyPath, certDir };
}
