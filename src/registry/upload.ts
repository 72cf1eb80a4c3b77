import { createHash } from "node:crypto";
import { Transform, type Readable } from "node:stream";
import { headBlob } from "./blobs.js";
import type { Repository } from "./client.js";
import { isTransient, RegistryError } from "./errors.js";
import { discard, type HttpResponse } from "./http.js";
import { retryLoop, transientRetry } from "./retry-loop.js";
import { NO_RETRY, type RetryPolicy } from "./retry.js";

/** Content to upload as a blob; `open` is called again for every attempt. */
export interface BlobSource {
  /** Known digest: enables the existence check, mounting and a single-request upload. */
  readonly digest?: string;
  readonly size?: number;
  /**
   * `digest` was computed by this process from the very bytes `open()` returns (a layer it just
   * built): they are sent without being hashed again. The registry still checks the digest when
   * the upload is committed.
   */
  readonly selfHashed?: boolean;
  open(): Promise<Readable> | Readable;
}

/** How a blob reached the registry. */
export type UploadOutcome = "exists" | "mounted" | "uploaded";

/** Result of {@link uploadBlob}. */
export interface UploadResult {
  readonly digest: string;
  readonly size: number;
  readonly outcome: UploadOutcome;
}

/** Options of {@link uploadBlob}. */
export interface UploadOptions {
  /** A repository on the same registry that already has the blob (cross-repo mount). */
  readonly mountFrom?: string;
  /** Bytes sent so far (resets to 0 when an attempt restarts). */
  readonly onProgress?: (sent: number) => void;
  /** Upload in PATCH chunks of at most this many bytes (registries that cap request sizes). */
  readonly chunkSize?: number;
  /** Retry policy of the whole upload (restarts from POST); the repository's when omitted. */
  readonly policy?: RetryPolicy;
  readonly signal?: AbortSignal;
}

/** Blobs smaller than this go up in one POST + PUT. */
const MONOLITHIC_LIMIT = 1 << 20;
/** Chunk size used after a registry rejected a whole-blob PATCH with 413. */
const FALLBACK_CHUNK = 16 << 20;

/**
 * A streamed PATCH body asked for a second time: the auth layer resends an exchange once after a
 * 401 with fresh credentials, but a stream cannot be replayed, so the upload restarts from POST.
 */
class BodyAlreadySentError extends Error {
  override name = "BodyAlreadySentError";
}

/**
 * Whether an upload restarted from POST may succeed: transient faults, upload sessions the
 * registry lost, and a streamed body that had to be sent again after a token refresh.
 */
function uploadRestartable(err: unknown): boolean {
  if (err instanceof BodyAlreadySentError) return true;
  if (err instanceof RegistryError && err.codes.some((c) => c === "BLOB_UPLOAD_INVALID" || c === "BLOB_UPLOAD_UNKNOWN")) return true;
  return isTransient(err);
}

function locationOf(repo: Repository, res: HttpResponse, fallback?: URL): URL {
  const location = repo.location(res) ?? fallback;
  if (!location) throw new Error(`registry ${repo.registry} started an upload without a Location`);
  return location;
}

function withDigest(location: URL, digest: string): URL {
  const url = new URL(location);
  url.searchParams.set("digest", digest);
  return url;
}

async function startUpload(repo: Repository, mountFrom: string | undefined, digest: string | undefined, signal?: AbortSignal) {
  if (mountFrom && digest && mountFrom !== repo.name) {
    try {
      const target = `/v2/${repo.name}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(mountFrom)}`;
      const res = await repo.request({ method: "POST", target, expect: [201, 202], retry: NO_RETRY, scopes: repo.scopes([mountFrom]), signal });
      await discard(res);
      if (res.status === 201) return { mounted: true as const };
      // 202: the registry could not mount but opened a normal upload session
      return { mounted: false as const, location: locationOf(repo, res) };
    } catch {
      // any mount failure falls back to a plain upload
    }
  }
  const res = await repo.request({ method: "POST", target: `/v2/${repo.name}/blobs/uploads/`, expect: [202], retry: NO_RETRY, signal });
  await discard(res);
  return { mounted: false as const, location: locationOf(repo, res) };
}

function counting(onData: (chunk: Buffer) => void): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      onData(chunk);
      cb(null, chunk);
    },
  });
}

async function patchStream(repo: Repository, location: URL, body: Readable, size: number | undefined, signal?: AbortSignal): Promise<URL> {
  const headers: Record<string, string> = { "content-type": "application/octet-stream" };
  if (size !== undefined) headers["content-length"] = String(size);
  // the stream can be sent once: a second send (after a 401) fails, and the upload restarts from POST
  let sent = false;
  const once = () => {
    if (sent) throw new BodyAlreadySentError("upload body already sent");
    sent = true;
    return body;
  };
  const res = await repo.request({ method: "PATCH", target: location, headers, body: once, expect: [202, 204], retry: NO_RETRY, signal });
  await discard(res);
  return locationOf(repo, res, location);
}

async function patchChunks(repo: Repository, location: URL, body: Readable, chunkSize: number, signal?: AbortSignal): Promise<URL> {
  let offset = 0;
  let pending: Buffer[] = [];
  let pendingSize = 0;
  let loc = location;
  const flush = async () => {
    if (pendingSize === 0) return;
    const chunk = Buffer.concat(pending);
    const res = await repo.request({
      method: "PATCH",
      target: loc,
      headers: {
        "content-type": "application/octet-stream",
        "content-length": String(chunk.length),
        "content-range": `${offset}-${offset + chunk.length - 1}`,
      },
      body: chunk,
      expect: [202, 204],
      retry: NO_RETRY,
      signal,
    });
    await discard(res);
    loc = locationOf(repo, res, loc);
    offset += chunk.length;
    pending = [];
    pendingSize = 0;
  };
  for await (const data of body) {
    let buf = data as Buffer;
    while (buf.length > 0) {
      const take = Math.min(buf.length, chunkSize - pendingSize);
      pending.push(buf.subarray(0, take));
      pendingSize += take;
      buf = buf.subarray(take);
      if (pendingSize === chunkSize) await flush();
    }
  }
  await flush();
  return loc;
}

async function uploadOnce(repo: Repository, source: BlobSource, options: UploadOptions, chunkSize: number | undefined): Promise<UploadResult> {
  const started = await startUpload(repo, options.mountFrom, source.digest, options.signal);
  if (started.mounted) return { digest: source.digest ?? "", size: source.size ?? 0, outcome: "mounted" };
  // a digest computed from these bytes by this process is not computed again (see BlobSource)
  const hash = source.selfHashed && source.digest ? undefined : createHash("sha256");
  let sent = 0;
  const opened = await source.open();
  const stream = opened.pipe(
    counting((chunk) => {
      hash?.update(chunk);
      sent += chunk.length;
      options.onProgress?.(sent);
    }),
  );
  let sourceError: unknown;
  opened.on("error", (err) => {
    sourceError = err;
    stream.destroy(err);
  });
  let location = started.location;
  if (source.digest && source.size !== undefined && source.size <= MONOLITHIC_LIMIT && !chunkSize) {
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const res = await repo.request({
      method: "PUT",
      target: withDigest(location, source.digest),
      headers: { "content-type": "application/octet-stream", "content-length": String(body.length) },
      body,
      expect: [201],
      retry: NO_RETRY,
      signal: options.signal,
    });
    await discard(res);
    return { digest: source.digest, size: body.length, outcome: "uploaded" };
  }
  try {
    location = chunkSize
      ? await patchChunks(repo, location, stream, chunkSize, options.signal)
      : await patchStream(repo, location, stream, source.size, options.signal);
  } catch (err) {
    // release the source (a file descriptor) before a restart opens it again
    opened.destroy();
    // a failing source (a blob that failed verification, a read error) is reported as itself, not
    // as a network fault of the PATCH, so whether to restart is decided on the source's own error
    throw sourceError ?? err;
  }
  const digest = hash ? `sha256:${hash.digest("hex")}` : (source.digest ?? "");
  if (!hash && source.size !== undefined && sent !== source.size) {
    throw new Error(`blob content changed during upload: expected ${source.size} bytes of ${digest}, read ${sent}`);
  }
  if (source.digest && source.digest !== digest) {
    throw new Error(`blob content changed during upload: expected ${source.digest}, read ${digest}`);
  }
  const res = await repo.request({
    method: "PUT",
    target: withDigest(location, digest),
    headers: { "content-length": "0" },
    expect: [201],
    retry: NO_RETRY,
    signal: options.signal,
  });
  await discard(res);
  return { digest, size: sent, outcome: "uploaded" };
}

/**
 * Uploads a blob unless the repository already has it: HEAD, then a same-registry cross-repo mount
 * when possible, else POST + one streamed PATCH + PUT (or PATCH chunks). The whole sequence is the
 * unit of retry, its requests are not retried themselves: a failed attempt restarts from POST with
 * a freshly opened source. A registry that refuses a whole-blob PATCH with 413 gets the same
 * attempt again in chunks.
 */
export async function uploadBlob(repo: Repository, source: BlobSource, options: UploadOptions = {}): Promise<UploadResult> {
  if (source.digest) {
    const size = await headBlob(repo, source.digest);
    if (size !== undefined) return { digest: source.digest, size: source.size ?? size, outcome: "exists" };
  }
  let chunkSize = options.chunkSize;
  const policy = transientRetry(options.policy ?? repo.retry, repo.registry, options.signal);
  return retryLoop(
    async () => {
      try {
        return await uploadOnce(repo, source, options, chunkSize);
      } catch (err) {
        if (!(err instanceof RegistryError && err.status === 413) || chunkSize) throw err;
        chunkSize = FALLBACK_CHUNK;
        return uploadOnce(repo, source, options, chunkSize);
      }
    },
    { ...policy, retryable: uploadRestartable },
  );
}
