import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { createPrivateKey, type KeyObject } from "node:crypto";
import { runTool } from "../process/run-tool.js";
import { libtrustKeyId } from "./libtrust-kid.js";

/** An ES256 token-signing key and the self-signed certificate the registry trusts. */
export interface SigningKey {
  privateKey: KeyObject;
  /** PEM file for the registry's `auth.token.rootcertbundle`. */
  certPath: string;
  /** libtrust fingerprint of the public key, used as the JWT `kid`. */
  keyId: string;
}

/** Generates a P-256 key and a self-signed certificate for it under `dir` with openssl. */
export async function generateSigningKey(dir: string, name = "token-signer"): Promise<SigningKey> {
  const keyPath = join(dir, `${name}.key`);
  const certPath = join(dir, `${name}.crt`);
  await runTool("openssl", [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
    "-keyout", keyPath, "-out", certPath, "-days", "2", "-subj", `/CN=${name}`,
  ]);
  const privateKey = createPrivateKey(await readFile(keyPath, "utf8"));
  return { privateKey, certPath, keyId: libtrustKeyId(await readFile(certPath, "utf8")) };
}
