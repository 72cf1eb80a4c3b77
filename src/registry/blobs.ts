import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import type { Repository } from "./client.js";
import { NetworkError, RegistryError } from "./errors.js";
import { discard, header } from "./http.js";
import { DigestMismatchError } from "./manifests.js";
import { backoffDelay, DEFAULT_RETRY_POLICY, sleep } from "./retry.js";

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
  /** How many times a mid-body failure is resumed with a Range request (default 3). */
  readonly maxResumes?: number;
  /** Reads the bytes of a small blob into memory callers can cap (configs). */
  readonly limit?: number;
}

function isResumable(err: unknown): boolean {
  if (err instanceof NetworkError) return err.temporary;
  const code = (err as { code?: string } | undefined)?.code ?? "";
  return /^(ECONNRESET|EPIPE|ETIMEDOUT|UND_ERR_SOCKET|UND_ERR_BODY_TIMEOUT|UND_ERR_RES_CONTENT_LENGTH_MISMATCH|UND_ERR_CLOSED|UND_ERR_ABORTED|ERR_STREAM_PREMATURE_CLOSE)$/.test(code);
}

async function* blobChunks(repo: Repository, digest: string, options: OpenBlobOptions): AsyncGenerator<Buffer> {
  const hash = createHash("sha256");
  const maxResumes = options.maxResumes ?? 3;
  let offset = 0;
  let resumes = 0;
  for (;;) {
    const res = await repo.request({
      method: "GET",
      target: repo.path("blobs", digest),
      headers: offset > 0 ? { range: `bytes=${offset}-` } : {},
      expect: offset > 0 ? [200, 206] : [200],
      followRedirects: true,
      signal: options.signal,
    });
    // a server that ignores Range sends the whole blob again: skip what we already have
    let skip = offset > 0 && res.status === 200 ? offset : 0;
    if (res.status === 206 && !(header(res, "content-range") ?? "").startsWith(`bytes ${offset}-`)) {
      res.body.destroy();
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
          res.body.destroy();
          throw new DigestMismatchError(`blob ${digest} is larger than its declared size ${options.size}`);
        }
        if (options.limit !== undefined && offset > options.limit) {
          res.body.destroy();
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
      break;
    } catch (err) {
      if (err instanceof DigestMismatchError || !isResumable(err) || resumes >= maxResumes) throw err;
      resumes++;
      await sleep(backoffDelay(DEFAULT_RETRY_POLICY, resumes), options.signal);
    }
  }
  const got = `sha256:${hash.digest("hex")}`;
  if (got !== digest) throw new DigestMismatchError(`blob ${digest} failed verification: content has digest ${got}`);
}

/**
 * Streams a blob, verifying its size and digest while it flows (the stream errors at the end on a
 * mismatch) and resuming with `Range` after a mid-body connection failure.
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
