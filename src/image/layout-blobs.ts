import { createHash } from "node:crypto";
import { open, stat } from "node:fs/promises";
import { join } from "node:path";
import { pipeline, Transform, type Readable, type TransformCallback } from "node:stream";
import { DigestMismatchError, isSha256Digest } from "../oci/digest.js";


/** An OCI layout problem: missing or invalid `oci-layout`/`index.json`, or a name/digest it does not hold. */
export class LayoutError extends Error {
  override name = "LayoutError";
  constructor(
    message: string,
    /** True when the layout or the requested image is simply absent (not corrupt). */
    readonly notFound = false,
  ) {
    super(message);
  }
}

/** A blob named by a descriptor is not in the layout's `blobs/` directory. */
export class LayoutBlobNotFoundError extends Error {
  override name = "LayoutBlobNotFoundError";
  constructor(
    readonly digest: string,
    readonly layoutPath: string,
  ) {
    super(`blob ${digest} not found in OCI layout ${layoutPath} (expected ${blobPath(layoutPath, digest)})`);
  }
}

/** Whether an error means "no such layout image" (missing directory, index.json, name or digest). */
export function isLayoutNotFound(err: unknown): boolean {
  return err instanceof LayoutError && err.notFound;
}

/** The file of a blob: `<layout>/blobs/sha256/<hex>` (only sha256 digests are accepted). */
export function blobPath(layoutPath: string, digest: string): string {
  if (!isSha256Digest(digest)) throw new LayoutError(`unsupported blob digest ${JSON.stringify(digest)} in OCI layout ${layoutPath}`);
  return join(layoutPath, "blobs", "sha256", digest.slice("sha256:".length));
}

/** The size of a blob file, or undefined when it is absent. */
export async function blobSize(layoutPath: string, digest: string): Promise<number | undefined> {
  try {
    const st = await stat(blobPath(layoutPath, digest));
    return st.isFile() ? st.size : undefined;
  } catch (err) {
    if (isEnoent(err)) return undefined;
    throw err;
  }
}

/** Whether an error is a "no such file or directory" error (ENOENT or ENOTDIR). */
export function isEnoent(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  return code === "ENOENT" || code === "ENOTDIR";
}

/**
 * A pass-through stream that hashes and counts what flows; it errors with DigestMismatchError as
 * soon as more than `size` bytes pass (when a size is given) and, at the end, on a short blob or a
 * digest mismatch.
 */
export function verifyingStream(digest: string, size: number | undefined, what: string): Transform {
  const hash = createHash("sha256");
  let count = 0;
  return new Transform({
    highWaterMark: 1 << 20,
    transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
      count += chunk.length;
      if (size !== undefined && count > size) {
        callback(new DigestMismatchError(`${what} is larger than its declared size ${size}`));
        return;
      }
      hash.update(chunk);
      callback(null, chunk);
    },
    flush(callback: TransformCallback): void {
      if (size !== undefined && count !== size) {
        callback(new DigestMismatchError(`${what} has ${count} bytes, expected ${size}`));
        return;
      }
      const got = `sha256:${hash.digest("hex")}`;
      if (got !== digest) {
        callback(new DigestMismatchError(`${what} failed verification: content has digest ${got}`));
        return;
      }
      callback();
    },
  });
}

/**
 * Opens a blob of a layout as a stream verified against its digest and (when given) size; rejects
 * with LayoutBlobNotFoundError when the file is absent.
 */
export async function openLayoutBlob(layoutPath: string, digest: string, size?: number): Promise<Readable> {
  const file = blobPath(layoutPath, digest);
  // open first so a missing blob is a rejection, not a stream error
  const handle = await open(file, "r").catch((err: unknown) => {
    throw isEnoent(err) ? new LayoutBlobNotFoundError(digest, layoutPath) : err;
  });
  const source = handle.createReadStream({ highWaterMark: 1 << 20 });
  const verifier = verifyingStream(digest, size, `blob ${digest} in OCI layout ${layoutPath}`);
  pipeline(source, verifier, () => undefined);
  return verifier;
}

/** Reads a small blob (manifest, index, config) into memory, verified; `limit` caps its size. */
export async function readLayoutBlob(layoutPath: string, digest: string, size: number | undefined, limit: number): Promise<Buffer> {
  const actual = await blobSize(layoutPath, digest);
  if (actual === undefined) throw new LayoutBlobNotFoundError(digest, layoutPath);
  const what = `blob ${digest} in OCI layout ${layoutPath}`;
  if (actual > limit) throw new Error(`${what} exceeds the ${limit}-byte limit`);
  const chunks: Buffer[] = [];
  for await (const chunk of await openLayoutBlob(layoutPath, digest, size)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
