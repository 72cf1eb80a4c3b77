// One streamed pass per layer: tar → sha256 (diffID) → [tee to .tar] → gzip → sha256 (digest) → file.
import { createHash, randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { open, unlink } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { Readable, Transform } from "node:stream";
import type { TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import type { LayerSource } from "./layer-source.js";
import type { Limiter } from "./limiter.js";
import { parallelGzip } from "./parallel-gzip.js";
import { tarChunks } from "./tar-writer.js";
import type { TarWriteOptions } from "./tar-writer.js";

/** The diffID of a layer and the size of its uncompressed tar. */
export interface DiffIdResult {
  /** `sha256:<hex>` of the uncompressed tar. */
  readonly diffId: string;
  /** Bytes in the uncompressed tar. */
  readonly size: number;
}

/** A compressed layer blob on disk, ready to upload. */
export interface LayerBlob {
  readonly diffId: string;
  /** `sha256:<hex>` of the gzip blob (the manifest/registry digest). */
  readonly digest: string;
  /** Bytes in the gzip blob. */
  readonly size: number;
  readonly uncompressedSize: number;
  /** The gzip blob (a temp file the caller owns and removes). */
  readonly path: string;
  /** The uncompressed tar, when `uncompressedPath` was asked for. */
  readonly uncompressedPath?: string;
}

/** Options for {@link buildLayerBlob}. */
export interface BuildLayerBlobOptions extends TarWriteOptions {
  /** gzip level (default 1, Go's `BestSpeed` as used by ggcr). */
  level?: number;
  /**
   * `"parallel"` (default): block-parallel gzip over the thread pool (see parallel-gzip.ts);
   * `"stream"`: one zlib stream. Both are deterministic, but they give different digests.
   */
  compression?: "parallel" | "stream";
  /** Blocks in flight in parallel mode (default: the libuv thread-pool size). */
  gzipConcurrency?: number;
  /** Also write the uncompressed tar to this path in the same pass (for the volume cache). */
  uncompressedPath?: string;
  /** Runs the build under this limiter (share one limiter across concurrent builds). */
  limiter?: Limiter;
  signal?: AbortSignal;
}

/** gzip level used unless asked otherwise. */
export const DEFAULT_GZIP_LEVEL = 1;
/** OS byte written into gzip headers: 255 "unknown", as Go's `compress/gzip` writes it. */
export const GZIP_OS_UNKNOWN = 0xff;
const GZIP_OS_OFFSET = 9;
const GZIP_CHUNK = 128 << 10;

function digestOf(hash: ReturnType<typeof createHash>): string {
  return `sha256:${hash.digest("hex")}`;
}

/** The "nothing changed" fast path: tar the source once, hashing only (no compression, no file). */
export async function diffIdOf(source: LayerSource, opts: TarWriteOptions = {}): Promise<DiffIdResult> {
  const hash = createHash("sha256");
  let size = 0;
  for await (const chunk of tarChunks(source.entries(), opts)) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { diffId: digestOf(hash), size };
}

/** Writes the uncompressed tar to `path` while hashing it (the volume cache's `<diffID>.tar`). */
export async function writeLayerTar(
  source: LayerSource,
  path: string,
  opts: TarWriteOptions & { signal?: AbortSignal } = {},
): Promise<DiffIdResult & { readonly path: string }> {
  const hash = createHash("sha256");
  let size = 0;
  async function* hashed(): AsyncGenerator<Buffer, void, undefined> {
    for await (const chunk of tarChunks(source.entries(), opts)) {
      hash.update(chunk);
      size += chunk.length;
      yield chunk;
    }
  }
  try {
    await pipeline(Readable.from(hashed(), { objectMode: false, highWaterMark: 1 }), createWriteStream(path), {
      signal: opts.signal,
    });
  } catch (err) {
    await unlink(path).catch(() => undefined);
    throw err;
  }
  return { diffId: digestOf(hash), size, path };
}

/** A pass-through that hashes what flows by and forces the gzip header's OS byte to a fixed value. */
class CompressedTap extends Transform {
  readonly hash = createHash("sha256");
  bytes = 0;

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    if (this.bytes <= GZIP_OS_OFFSET && this.bytes + chunk.length > GZIP_OS_OFFSET) {
      chunk[GZIP_OS_OFFSET - this.bytes] = GZIP_OS_UNKNOWN;
    }
    this.bytes += chunk.length;
    this.hash.update(chunk);
    done(null, chunk);
  }
}

/** Writes chunks to a file at increasing offsets, one write in flight while the next chunk is made. */
class TeeFile {
  private pending: Promise<unknown> = Promise.resolve();
  private offset = 0;

  private constructor(private readonly fh: FileHandle) {}

  static async open(path: string): Promise<TeeFile> {
    return new TeeFile(await open(path, "w"));
  }

  async write(chunk: Buffer): Promise<void> {
    await this.pending;
    const p = this.fh.write(chunk, 0, chunk.length, this.offset);
    p.catch(() => undefined); // observed by the next write() or close()
    this.pending = p;
    this.offset += chunk.length;
  }

  async close(): Promise<void> {
    try {
      await this.pending;
    } finally {
      await this.fh.close();
    }
  }
}

/**
 * Builds a layer blob in ONE pass: tar → sha256 (diffID) → gzip (deterministic: fixed level and
 * block size, no name, mtime 0, OS byte 255) → sha256 (digest) → `<tmpDir>/layer-<random>.tar.gz`.
 * Optionally tees the uncompressed tar to `uncompressedPath`. Memory stays at a few MiB per build.
 */
export async function buildLayerBlob(source: LayerSource, tmpDir: string, opts: BuildLayerBlobOptions = {}): Promise<LayerBlob> {
  const { limiter } = opts;
  if (limiter) return limiter.run(() => buildLayerBlob(source, tmpDir, { ...opts, limiter: undefined }));

  const path = join(tmpDir, `layer-${randomBytes(8).toString("hex")}.tar.gz`);
  const tarHash = createHash("sha256");
  let tarSize = 0;
  const tee = opts.uncompressedPath === undefined ? undefined : await TeeFile.open(opts.uncompressedPath);
  async function* tarred(): AsyncGenerator<Buffer, void, undefined> {
    for await (const chunk of tarChunks(source.entries(), opts)) {
      tarHash.update(chunk);
      tarSize += chunk.length;
      await tee?.write(chunk);
      yield chunk;
    }
  }
  const tap = new CompressedTap();
  const level = opts.level ?? DEFAULT_GZIP_LEVEL;
  const sink = createWriteStream(path, { highWaterMark: 1 << 20 });
  try {
    try {
      if (opts.compression === "stream") {
        const gzip = createGzip({ level, chunkSize: GZIP_CHUNK });
        await pipeline(Readable.from(tarred(), { objectMode: false, highWaterMark: 1 }), gzip, tap, sink, { signal: opts.signal });
      } else {
        const gzipped = parallelGzip(tarred(), { level, ...(opts.gzipConcurrency ? { concurrency: opts.gzipConcurrency } : {}) });
        await pipeline(Readable.from(gzipped, { objectMode: false, highWaterMark: 1 }), tap, sink, { signal: opts.signal });
      }
    } finally {
      await tee?.close();
    }
  } catch (err) {
    await unlink(path).catch(() => undefined);
    if (opts.uncompressedPath !== undefined) await unlink(opts.uncompressedPath).catch(() => undefined);
    throw err;
  }
  return {
    diffId: digestOf(tarHash),
    digest: digestOf(tap.hash),
    size: tap.bytes,
    uncompressedSize: tarSize,
    path,
    ...(opts.uncompressedPath === undefined ? {} : { uncompressedPath: opts.uncompressedPath }),
  };
}
