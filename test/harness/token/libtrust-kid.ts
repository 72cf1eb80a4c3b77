import { createHash, createPublicKey } from "node:crypto";

const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

function base32(bytes: Uint8Array): string {
  let out = "";
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(buffer >>> (bits - 5)) & 31] ?? "";
      bits -= 5;
    }
    buffer &= (1 << bits) - 1;
  }
  if (bits > 0) out += BASE32[(buffer << (5 - bits)) & 31] ?? "";
  return out;
}

/**
 * The libtrust key ID of a public key (PEM key or certificate): SHA-256 of the DER
 * SubjectPublicKeyInfo, truncated to 30 bytes, base32 without padding, 12 groups of 4 joined by ':'.
 */
export function libtrustKeyId(publicKeyOrCertPem: string): string {
  const der = createPublicKey(publicKeyOrCertPem).export({ type: "spki", format: "der" });
  const encoded = base32(createHash("sha256").update(der).digest().subarray(0, 30));
  return encoded.match(/.{4}/g)?.join(":") ?? encoded;
}
