// Content digests: the one definition of what a sha256 digest looks like and how one is computed.
import { createHash } from "node:crypto";

/** Hex of a sha256 digest. */
export const SHA256_HEX = /^[a-f0-9]{64}$/;

/** A sha256 content digest, `sha256:<64 lowercase hex>` (descriptor digests, diffIDs). */
export const SHA256_DIGEST = /^sha256:[a-f0-9]{64}$/;

/** Whether `value` is a `sha256:<64 hex>` digest. */
export function isSha256Digest(value: string): boolean {
  return SHA256_DIGEST.test(value);
}

/** `sha256:<hex>` of some bytes. */
export function sha256Digest(data: Uint8Array | string): string {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}

/** Content that does not match its digest (or its declared size). */
export class DigestMismatchError extends Error {
  override name = "DigestMismatchError";
}
