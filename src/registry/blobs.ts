import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import type { Repository } from "./client.js";
import { RegistryError } from "./errors.js";
import { bodyFailure, discard, header } from "./http.js";
import { RetryCounter, transientRetry } from "./retry-loop.js";
import { NO_RETRY, type RetryPolicy } from "./retry.js";
import { DigestMismatchError } from "../oci/digest.js";

/** HEADs a blob: its size when present, undefined when the registry answers 404. */
export async function headBlob(repo: Repository, digest: string): Promise<number | undefined> {
  try {
    const res = await repo.request({ method: "HEAD", target: repo.path("blobs", digest), expect: [200], followRedirects: true });
    await discard(res);
    const length = header(res, "content-length");
    return length === undefined ? 0 : Number(length);
  } catch (err) {
    if (err instanceof RegistryError && err.status === 404) return undefined;
    throw err;
  }
}

/** Options of {@link openBlob}. */
export interface OpenBlobOptions {
  /** Expected size: the stream fails if the blob is longer or shorter. */
  readonly size?: number;
  readonly signal?: AbortSignal;
  /**
   * Retry policy of the whole read (the repository's when omitted): a failed GET, or a body cut
   * off mid-way, is tried again from where it stopped with a `Range` request.
   */
  readonly retry?: RetryPolicy;
  /** Reads the bytes of a small blob into memory callers can cap (configs). */
  readonly limit?: number;
}

async function* blobChunks(repo: Repository, digest: string, options: OpenBlobOptions): AsyncGenerator<Buffer> {
  const hash = createHash("sha256");
  // this loop is the read's one retry owner: its GETs are not retried by the transport
  const attempts = new RetryCounter(transientRetry(options.retry ?? repo.retry, repo.registry, options.signal));
  let offset = 0;
  for (;;) {
    let body: Readable | undefined;
    try {
      const res = await repo.request({
        method: "GET",
        target: repo.path("blobs", digest),
        headers: offset > 0 ? { range: `bytes=${offset}-` } : {},
        expect: offset > 0 ? [200, 206] : [200],
        followRedirects: true,
        retry: NO_RETRY,
        signal: options.signal,
      });
      body = res.body;
      // a server that ignores Range sends the whole blob again: skip what we already have
      let skip = offset > 0 && res.status === 200 ? offset : 0;
      if (res.status === 206 && !(header(res, "content-range") ?? "").startsWith(`bytes ${offset}-`)) {
        throw new Error(`blob ${digest}: registry answered a resume with an unexpected Content-Range`);
      }
      try {
        for await (const chunk of res.body) {
          let buf = chunk as Buffer;
          if (skip > 0) {
            if (buf.length <= skip) {
              skip -= buf.length;
              continue;
            }
            buf = buf.subarray(skip);
            skip = 0;
          }
          offset += buf.length;
          if (options.size !== undefined && offset > options.size) {
            throw new DigestMismatchError(`blob ${digest} is larger than its declared size ${options.size}`);
          }
          if (options.limit !== undefined && offset > options.limit) {
            throw new Error(`blob ${digest} exceeds the ${options.limit}-byte limit`);
          }
          hash.update(buf);
          yield buf;
        }
        if (options.size !== undefined && offset < options.size) {
          throw Object.assign(new Error(`premature end of blob ${digest} at ${offset}/${options.size} bytes`), {
            code: "ERR_STREAM_PREMATURE_CLOSE",
          });
        }
      } catch (err) {
        throw bodyFailure("GET", res, err);
      }
      break;
    } catch (err) {
      await attempts.failed(err);
    } finally {
      // a consumer that stopped early, or a failed attempt, leaves the body unread
      if (body && !body.readableEnded) body.destroy();
    }
  }
  const got = `sha256:${hash.digest("hex")}`;
  if (got !== digest) throw new DigestMismatchError(`blob ${digest} failed verification: content has digest ${got}`);
}

/**
 * Streams a blob, verifying its size and digest while it flows (the stream errors at the end on a
 * mismatch) and resuming with `Range` after a failure, under the read's retry policy.
 */
export function openBlob(repo: Repository, digest: string, options: OpenBlobOptions = {}): Readable {
  return Readable.from(blobChunks(repo, digest, options), { objectMode: false, highWaterMark: 1 << 20 });
}

/** Reads a whole (small) blob into memory, verified. */
export async function readBlob(repo: Repository, digest: string, options: OpenBlobOptions = {}): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of openBlob(repo, digest, options)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
