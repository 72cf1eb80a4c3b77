// Streaming tar writer: Go `archive/tar`-identical bytes, emitted in large chunks with file
// contents read straight from disk into the outgoing chunk (never a whole file in memory).
import { closeSync, openSync, readSync } from "node:fs";
import { open } from "node:fs/promises";
import { Readable } from "node:stream";
import { encodeTarHeader } from "./tar-header.js";
import { BLOCK_SIZE, blockPadding, pathBytes } from "./tar-entry.js";
import type { TarEntry, TarPath } from "./tar-entry.js";

/** Options for {@link tarChunks}. */
export interface TarWriteOptions {
  /** Size of the emitted chunks (default 1 MiB); headers and small files are packed together. */
  chunkSize?: number;
  /**
   * Files up to this size are read with synchronous calls (one open/read/close each, no thread-pool
   * round trips); larger files are streamed asynchronously. Default 256 KiB; 0 disables.
   */
  syncReadMax?: number;
  /**
   * Provides the memory of each chunk: a buffer of at least `size` bytes (chunkSize + 1). Every
   * chunk yielded is the start of one provided buffer, in the order they were provided; a buffer
   * provided when the archive fails or is abandoned is never yielded. The caller recycles them.
   * Default: a fresh Buffer per chunk.
   */
  allocate?: (size: number) => Buffer | Promise<Buffer>;
}

/** A file changed size between being listed and being archived (Go fails the same way). */
export class TarContentError extends Error {
  readonly code = "TAR_CONTENT";

  constructor(message: string) {
    super(message);
    this.name = "TarContentError";
  }
}

const DEFAULT_CHUNK = 1 << 20;
/** Longest stretch of synchronous work (small-file reads, metadata) before yielding to the event loop. */
const MAX_SYNC_MS = 4;
const DEFAULT_SYNC_READ_MAX = 256 << 10;
/** The end of every archive: two zero blocks (no padding to a 10 KiB record, like Go). */
export const TAR_TRAILER_SIZE = 2 * BLOCK_SIZE;

/** A path in a form the fs API accepts. */
function fsPath(p: TarPath): string | Buffer {
  return typeof p === "string" ? p : pathBytes(p);
}

function describe(p: TarPath): string {
  return typeof p === "string" ? p : pathBytes(p).toString("utf8");
}

function tooLong(e: TarEntry): TarContentError {
  return new TarContentError(`archive/tar: write too long: '${describe(e.name)}' grew while it was archived`);
}

function missed(e: TarEntry, n: number): TarContentError {
  return new TarContentError(`archive/tar: missed writing ${n} bytes: '${describe(e.name)}' shrank while it was archived`);
}

const freshBuffer = (size: number): Buffer => Buffer.allocUnsafe(size);

/**
 * Accumulates output into fixed-size chunks; `full` says when the current chunk must be emitted.
 * Every chunk but the last is exactly `size` bytes.
 */
class ChunkBuffer {
  buf: Buffer;
  pos = 0;

  private constructor(
    readonly size: number,
    private readonly allocate: (size: number) => Buffer | Promise<Buffer>,
    first: Buffer,
  ) {
    this.buf = first;
  }

  static async create(size: number, allocate: (size: number) => Buffer | Promise<Buffer> = freshBuffer): Promise<ChunkBuffer> {
    // One spare byte lets the last read of a file ask for size+1 bytes to detect growth.
    return new ChunkBuffer(size, allocate, ChunkBuffer.checked(await allocate(size + 1), size + 1));
  }

  private static checked(buf: Buffer, size: number): Buffer {
    if (buf.length < size) throw new RangeError(`tar chunk buffer of ${buf.length} bytes, need ${size}`);
    return buf;
  }

  get full(): boolean {
    return this.pos >= this.size;
  }

  get space(): number {
    return this.size - this.pos;
  }

  /** Hands out the filled part; call {@link next} before writing again (emitted chunks are not reused here). */
  take(): Buffer {
    const out = this.buf.subarray(0, this.pos);
    this.pos = 0;
    return out;
  }

  /** Starts a fresh chunk after {@link take}. */
  next(): Promise<void> | void {
    const buf = this.allocate(this.size + 1);
    if (Buffer.isBuffer(buf)) {
      this.buf = ChunkBuffer.checked(buf, this.size + 1);
      return;
    }
    return buf.then((b) => {
      this.buf = ChunkBuffer.checked(b, this.size + 1);
    });
  }

  /** Copies as much of `src[from..]` as fits; returns the new `from`. */
  put(src: Uint8Array, from: number): number {
    const n = Math.min(src.length - from, this.space);
    this.buf.set(src.subarray(from, from + n), this.pos);
    this.pos += n;
    return from + n;
  }

  /** Writes up to `n` zero bytes; returns how many were written. */
  zero(n: number): number {
    const k = Math.min(n, this.space);
    this.buf.fill(0, this.pos, this.pos + k);
    this.pos += k;
    return k;
  }
}

/**
 * Reads a small file with synchronous calls into the chunks, continuing into the next chunk when it
 * does not fit, and checks that it has exactly `size` bytes.
 */
async function* readSmallSync(e: TarEntry, source: TarPath, size: number, out: ChunkBuffer): AsyncGenerator<Buffer, void, undefined> {
  const fd = openSync(fsPath(source), "r");
  try {
    let got = 0;
    while (got < size) {
      if (out.full) {
        yield out.take();
        await out.next();
      }
      const want = Math.min(size - got, out.space);
      // On the last piece ask for one byte more (the chunk has a spare byte): a regular file
      // returning exactly what is left is at EOF.
      const n = readSync(fd, out.buf, out.pos, want === size - got ? want + 1 : want, got);
      if (n === 0) throw missed(e, size - got);
      if (got + n > size) throw tooLong(e);
      out.pos += n;
      got += n;
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * Yields the bytes of a tar archive of `entries` in ~chunkSize pieces, exactly as Go's
 * `tar.Writer` would write them (headers per {@link encodeTarHeader}, contents padded to 512
 * bytes, two zero blocks at the end). File contents are read from `entry.source` as the archive
 * is produced, so memory stays bounded by a few chunks.
 */
export async function* tarChunks(
  entries: AsyncIterable<TarEntry> | Iterable<TarEntry>,
  opts: TarWriteOptions = {},
): AsyncGenerator<Buffer, void, undefined> {
  const out = await ChunkBuffer.create(opts.chunkSize ?? DEFAULT_CHUNK, opts.allocate);
  const syncReadMax = Math.min(opts.syncReadMax ?? DEFAULT_SYNC_READ_MAX, out.size);
  let lastYield = performance.now();
  for await (const e of entries) {
    if (performance.now() - lastYield > MAX_SYNC_MS) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      lastYield = performance.now();
    }
    const header = encodeTarHeader(e);
    for (let from = 0; from < header.length; ) {
      if (out.full) {
        yield out.take();
        await out.next();
      }
      from = out.put(header, from);
    }
    if (e.type !== "file") continue;
    const size = e.size ?? e.content?.length ?? 0;
    if (size > 0) {
      if (e.content !== undefined) {
        if (e.content.length !== size) throw e.content.length > size ? tooLong(e) : missed(e, size - e.content.length);
        for (let from = 0; from < size; ) {
          if (out.full) {
            yield out.take();
            await out.next();
          }
          from = out.put(e.content, from);
        }
      } else if (e.stream !== undefined) {
        yield* copyStream(e, e.stream, size, out);
      } else if (e.source === undefined) {
        throw new TarContentError(`tar entry '${describe(e.name)}' has a size but no content source`);
      } else if (size <= syncReadMax) {
        yield* readSmallSync(e, e.source, size, out);
      } else {
        yield* streamFile(e, e.source, size, out);
      }
    }
    for (let pad = blockPadding(size); pad > 0; ) {
      if (out.full) {
        yield out.take();
        await out.next();
      }
      pad -= out.zero(pad);
    }
  }
  for (let pad = TAR_TRAILER_SIZE; pad > 0; ) {
    if (out.full) {
      yield out.take();
      await out.next();
    }
    pad -= out.zero(pad);
  }
  yield out.take();
}

/** Streams a file into the chunks with positioned reads, checking that it has exactly `size` bytes. */
async function* streamFile(e: TarEntry, source: TarPath, size: number, out: ChunkBuffer): AsyncGenerator<Buffer, void, undefined> {
  const fh = await open(fsPath(source), "r");
  try {
    let done = 0;
    while (done < size) {
      if (out.full) {
        yield out.take();
        await out.next();
      }
      const want = Math.min(size - done, out.space);
      // On the last piece ask for one byte more (the chunk has a spare byte) to notice growth.
      const ask = want === size - done ? want + 1 : want;
      const { bytesRead } = await fh.read(out.buf, out.pos, ask, done);
      if (bytesRead === 0) throw missed(e, size - done);
      if (done + bytesRead > size) throw tooLong(e);
      out.pos += bytesRead;
      done += bytesRead;
    }
  } finally {
    await fh.close();
  }
}

/** Copies streamed content into the chunks, checking that it has exactly `size` bytes. */
async function* copyStream(e: TarEntry, stream: AsyncIterable<Uint8Array>, size: number, out: ChunkBuffer): AsyncGenerator<Buffer, void, undefined> {
  let done = 0;
  for await (const piece of stream) {
    if (done + piece.length > size) throw tooLong(e);
    for (let from = 0; from < piece.length; ) {
      if (out.full) {
        yield out.take();
        await out.next();
      }
      from = out.put(piece, from);
    }
    done += piece.length;
  }
  if (done < size) throw missed(e, size - done);
}

/** The archive as a byte stream (a Readable over {@link tarChunks}). */
export function tarStream(entries: AsyncIterable<TarEntry> | Iterable<TarEntry>, opts: TarWriteOptions = {}): Readable {
  return Readable.from(tarChunks(entries, opts), { objectMode: false, highWaterMark: 1 });
}
