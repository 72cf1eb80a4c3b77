// One streamed pass per layer: tar → sha256 (diffID) → [tee to .tar] → gzip → sha256 (digest) → file,
// with the deflating and the tar hashing on worker threads (block-workers.ts).
import { createHash, randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { open, unlink } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { Readable, Transform } from "node:stream";
import type { TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import { sharedBlockWorkers, type BlockWorkers, type Slot } from "./block-workers.js";
import type { LayerSource } from "./layer-source.js";
import type { Limiter } from "../util/limiter.js";
import { BlockDeflater, checkLevel, defaultGzipConcurrency, gzipHeader, gzipTrailer } from "./parallel-gzip.js";
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
   * `"parallel"` (default): block-parallel gzip on worker threads (see parallel-gzip.ts);
   * `"stream"`: one zlib stream. Both are deterministic, but they give different digests.
   */
  compression?: "parallel" | "stream";
  /** Blocks in flight in parallel mode (default: {@link defaultGzipConcurrency}). */
  gzipConcurrency?: number;
  /**
   * Worker threads that deflate and hash in parallel mode (default: the process's shared pool).
   * The tar is cut at the pool's block size there; `chunkSize` only applies to `"stream"`.
   */
  workers?: BlockWorkers;
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

/** Options for {@link diffIdOf} (`chunkSize` is the pool's block size). */
export interface DiffIdOptions extends TarWriteOptions {
  /** Worker threads that hash (default: the process's shared pool). */
  workers?: BlockWorkers;
}

/** Blocks of one tar waiting to be hashed at most (a few MiB of arena per stream). */
const HASH_AHEAD = 3;

/**
 * Lends the tar writer arena slots for its chunks and hands them back in order: the chunk the
 * writer yields is always the next slot lent (see `TarWriteOptions.allocate`).
 */
class SlotLender {
  private readonly lent: Slot[] = [];

  constructor(private readonly workers: BlockWorkers) {}

  readonly allocate = async (size: number): Promise<Buffer> => {
    const slot = await this.workers.acquire();
    this.lent.push(slot);
    if (slot.input.length < size) throw new RangeError(`arena slot of ${slot.input.length} bytes, tar chunk needs ${size}`);
    return slot.input;
  };

  /** The slot holding `chunk`. */
  slotOf(chunk: Buffer): Slot {
    const slot = this.lent.shift();
    if (!slot || chunk.buffer !== slot.input.buffer || chunk.byteOffset !== slot.input.byteOffset) {
      throw new Error("internal error: tar chunk is not in the next lent slot");
    }
    return slot;
  }

  /** Returns the slots lent but never yielded (the archive failed or was abandoned). */
  returnUnused(): void {
    for (const slot of this.lent.splice(0)) this.workers.release(slot);
  }
}

/**
 * The "nothing changed" fast path: tar the source once, hashing only (no compression, no file).
 * The tar is written straight into arena slots and hashed on a worker thread, so concurrent
 * calls hash on different cores while this thread reads files.
 */
export async function diffIdOf(source: LayerSource, opts: DiffIdOptions = {}): Promise<DiffIdResult> {
  const workers = opts.workers ?? sharedBlockWorkers();
  const hasher = workers.hasher();
  const lender = new SlotLender(workers);
  const hashing: Promise<void>[] = [];
  let size = 0;
  try {
    for await (const chunk of tarChunks(source.entries(), { ...opts, chunkSize: workers.blockSize, allocate: lender.allocate })) {
      const slot = lender.slotOf(chunk);
      const hashed = hasher.update(slot, chunk.length);
      void hashed.then(
        () => workers.release(slot),
        () => workers.release(slot),
      );
      hashing.push(hashed);
      size += chunk.length;
      while (hashing.length >= HASH_AHEAD) await hashing.shift();
    }
    await Promise.all(hashing);
    return { diffId: (await hasher.digest()).sha256, size };
  } catch (err) {
    hasher.abort();
    throw err;
  } finally {
    lender.returnUnused();
    await Promise.allSettled(hashing);
  }
}

/**
 * Writes the uncompressed tar to `path` while hashing it (the volume cache's `<diffID>.tar`, the
 * daemon's layers). As in {@link diffIdOf}, the tar is written straight into arena slots and hashed
 * on a worker thread, so concurrent calls hash on different cores while this thread reads files;
 * each block is written at its offset meanwhile, and its slot goes back once both are done.
 */
export async function writeLayerTar(source: LayerSource, path: string, opts: DiffIdOptions & { signal?: AbortSignal } = {}): Promise<DiffIdResult & { readonly path: string }> {
  const workers = opts.workers ?? sharedBlockWorkers();
  const hasher = workers.hasher();
  const lender = new SlotLender(workers);
  const pending: Promise<void>[] = [];
  let size = 0;
  let file: FileHandle | undefined;
  try {
    file = await open(path, "w");
    const fh = file;
    for await (const chunk of tarChunks(source.entries(), { ...opts, chunkSize: workers.blockSize, allocate: lender.allocate })) {
      const slot = lender.slotOf(chunk);
      const hashed = hasher.update(slot, chunk.length);
      const written = writeAt(fh, chunk, size);
      void Promise.allSettled([hashed, written]).then(() => workers.release(slot));
      const both = Promise.all([hashed, written]).then(() => undefined);
      both.catch(() => undefined); // awaited in order below
      pending.push(both);
      size += chunk.length;
      while (pending.length >= HASH_AHEAD) await pending.shift();
      opts.signal?.throwIfAborted();
    }
    await Promise.all(pending);
    const { sha256: diffId } = await hasher.digest();
    file = undefined;
    await fh.close();
    return { diffId, size, path };
  } catch (err) {
    hasher.abort();
    await Promise.allSettled(pending);
    await file?.close().catch(() => undefined);
    await unlink(path).catch(() => undefined);
    throw err;
  } finally {
    lender.returnUnused();
  }
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
  const level = opts.level ?? DEFAULT_GZIP_LEVEL;
  try {
    const built = opts.compression === "stream" ? await buildStream(source, path, level, opts) : await buildParallel(source, path, level, opts);
    return { ...built, path, ...(opts.uncompressedPath === undefined ? {} : { uncompressedPath: opts.uncompressedPath }) };
  } catch (err) {
    await unlink(path).catch(() => undefined);
    if (opts.uncompressedPath !== undefined) await unlink(opts.uncompressedPath).catch(() => undefined);
    throw err;
  }
}

type Built = Omit<LayerBlob, "path" | "uncompressedPath">;

/** One zlib stream: tar → sha256 → [tee] → gzip → tap (OS byte, sha256) → file. */
async function buildStream(source: LayerSource, path: string, level: number, opts: BuildLayerBlobOptions): Promise<Built> {
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
  const sink = createWriteStream(path, { highWaterMark: 1 << 20 });
  try {
    const gzip = createGzip({ level, chunkSize: GZIP_CHUNK });
    await pipeline(Readable.from(tarred(), { objectMode: false, highWaterMark: 1 }), gzip, tap, sink, { signal: opts.signal });
  } finally {
    await tee?.close();
  }
  return { diffId: digestOf(tarHash), digest: digestOf(tap.hash), size: tap.bytes, uncompressedSize: tarSize };
}

/** Writes all of `buf` at `position`. */
async function writeAt(fh: FileHandle, buf: Buffer, position: number): Promise<void> {
  for (let done = 0; done < buf.length; ) {
    const { bytesWritten } = await fh.write(buf, done, buf.length - done, position + done);
    done += bytesWritten;
  }
}

/**
 * Block-parallel gzip on the worker threads. The tar is written straight into arena slots; per
 * block, a worker hashes it (sha256 + CRC-32, in order), another deflates it, and [the tar is teed
 * to its file]; then, in block order, this thread hashes the compressed block and appends it to
 * the blob. A slot goes back to the arena once all of that is over, whatever failed.
 */
async function buildParallel(source: LayerSource, path: string, level: number, opts: BuildLayerBlobOptions): Promise<Built> {
  checkLevel(level);
  opts.signal?.throwIfAborted();
  const workers = opts.workers ?? sharedBlockWorkers();
  const concurrency = Math.max(1, opts.gzipConcurrency ?? defaultGzipConcurrency());
  const deflater = new BlockDeflater(workers, level);
  const lender = new SlotLender(workers);
  const hasher = workers.hasher({ crc32: true });
  const compressed = createHash("sha256");
  let blob: FileHandle | undefined;
  let tee: FileHandle | undefined;
  let written = 0;
  let tarSize = 0;
  // Appends each block's output in order, independently of the tar loop (so slots come back even
  // while the tar writer waits for one); `steps` are the appends not awaited yet.
  let chain: Promise<void> = Promise.resolve();
  const steps: Promise<void>[] = [];
  const append = (out: Buffer) => {
    compressed.update(out);
    const at = written;
    written += out.length;
    return writeAt(blob!, out, at);
  };
  const submit = (slot: Slot, length: number) => {
    const deflated = deflater.deflate(slot, length);
    const hashed = hasher.update(slot, length);
    const teed = tee ? writeAt(tee, slot.input.subarray(0, length), tarSize) : undefined;
    const step = chain.then(async () => {
      await append(await deflated);
      await hashed;
      await teed;
    });
    step.catch(() => undefined); // awaited in order below
    void Promise.allSettled([deflated, hashed, teed, step]).then(() => workers.release(slot));
    chain = step;
    steps.push(step);
  };
  try {
    blob = await open(path, "w");
    if (opts.uncompressedPath !== undefined) tee = await open(opts.uncompressedPath, "w");
    // The header write may fail (ENOSPC) while the loop below still waits for the first tar
    // chunk, before any block step chains onto it: observe it now, it is awaited in order below.
    chain = append(gzipHeader(level));
    chain.catch(() => undefined);
    for await (const chunk of tarChunks(source.entries(), { ...opts, chunkSize: workers.blockSize, allocate: lender.allocate })) {
      submit(lender.slotOf(chunk), chunk.length);
      tarSize += chunk.length;
      while (steps.length >= concurrency) await steps.shift();
      opts.signal?.throwIfAborted();
    }
    await chain;
    const { sha256: diffId, crc32 } = await hasher.digest();
    await append(gzipTrailer(level, crc32, tarSize));
    await Promise.all([blob.close(), tee?.close()]);
    return { diffId, digest: digestOf(compressed), size: written, uncompressedSize: tarSize };
  } catch (err) {
    hasher.abort();
    throw err;
  } finally {
    lender.returnUnused();
    await Promise.allSettled([chain, ...steps]);
    // (closing a closed handle is a no-op; FileHandle.close waits for pending writes)
    await blob?.close().catch(() => undefined);
    await tee?.close().catch(() => undefined);
  }
}
