// Deterministic block-parallel gzip (pigz-style): the input is cut into fixed-size blocks, each
// compressed as raw deflate on a worker thread (see block-workers.ts) with the previous 32 KiB as
// dictionary and ended by a sync flush; the blocks are concatenated in order into one gzip member.
// The output depends only on the data, the level and the block size — never on how many blocks
// ran at once or on which thread.
import { constants, crc32, deflateRawSync } from "node:zlib";
import { BlockWorkers, defaultBlockWorkers, sharedBlockWorkers, WINDOW, type Slot } from "./block-workers.js";

/** Options for {@link parallelGzip}. */
export interface ParallelGzipOptions {
  /** gzip level 0–9. */
  level: number;
  /** Uncompressed bytes per block (default 1 MiB); part of the output format — keep it fixed. */
  blockSize?: number;
  /** Blocks in flight at once (default {@link defaultGzipConcurrency}). */
  concurrency?: number;
  /** The worker pool (default: the process's shared pool). */
  workers?: BlockWorkers;
}

/** Default block size: 1 MiB. */
export const GZIP_BLOCK_SIZE = 1 << 20;

/**
 * Blocks in flight per gzip member by default: two per worker thread (one compressing, one
 * queued), at least 2. Same CPU per byte as one zlib stream (~140 MB per CPU-second at level 1
 * on log-like text, see bench/exporter.ts); concurrent layer builds share the workers.
 */
export function defaultGzipConcurrency(): number {
  return Math.max(2, 2 * defaultBlockWorkers());
}

/** The 10-byte gzip header: no name, mtime 0, XFL as zlib sets it for `level`, OS 255 (like Go). */
export function gzipHeader(level: number): Buffer {
  const xfl = level === 9 ? 2 : level < 2 ? 4 : 0;
  return Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, xfl, 0xff]);
}

/** The end of a member: a final empty deflate block, then CRC-32 and ISIZE (length mod 2^32), little endian. */
export function gzipTrailer(level: number, crc: number, length: number): Buffer {
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc >>> 0, 0);
  trailer.writeUInt32LE(length % 2 ** 32, 4);
  return Buffer.concat([deflateRawSync(Buffer.alloc(0), { level }), trailer]);
}

/**
 * Submits the blocks of one gzip member to the workers, carrying each block's last 32 KiB into the
 * next block's dictionary. Every block but the last must be exactly the pool's block size.
 */
export class BlockDeflater {
  private readonly window = Buffer.allocUnsafe(WINDOW);
  private windowLength = 0;
  private ended = false;

  constructor(
    private readonly workers: BlockWorkers,
    readonly level: number,
  ) {}

  /** Raw deflate of `slot.input[0, length)`; see {@link BlockWorkers.deflate} for the result. */
  deflate(slot: Slot, length: number): Promise<Buffer> {
    if (this.ended) return Promise.reject(new Error("internal error: gzip block after a short block"));
    if (length < this.workers.blockSize) this.ended = true;
    const dictLength = this.windowLength;
    if (dictLength > 0) this.window.copy(slot.dict, 0, 0, dictLength);
    const job = this.workers.deflate(slot, length, dictLength, this.level);
    if (length >= WINDOW) {
      slot.input.copy(this.window, 0, length - WINDOW, length);
      this.windowLength = WINDOW;
    }
    return job;
  }
}

/** Level must be an integer 0–9 (zlib would reject it on a worker thread, later and less clearly). */
export function checkLevel(level: number): void {
  if (!Number.isInteger(level) || level < constants.Z_NO_COMPRESSION || level > constants.Z_BEST_COMPRESSION) {
    throw new RangeError(`gzip level must be an integer from 0 to 9, got ${level}`);
  }
}

/**
 * gzip of `input` as one member, compressed block-parallel (see the file comment). Yields the
 * compressed bytes in order; at most `concurrency` blocks (plus their output) are held at once.
 */
export async function* parallelGzip(input: AsyncIterable<Buffer>, opts: ParallelGzipOptions): AsyncGenerator<Buffer, void, undefined> {
  const { level } = opts;
  checkLevel(level);
  const blockSize = opts.blockSize ?? GZIP_BLOCK_SIZE;
  if (blockSize < WINDOW) throw new RangeError(`gzip block size must be at least ${WINDOW}`);
  const concurrency = Math.max(1, opts.concurrency ?? defaultGzipConcurrency());
  const own = opts.workers === undefined && blockSize !== GZIP_BLOCK_SIZE ? new BlockWorkers({ blockSize, slots: concurrency + 2 }) : undefined;
  const workers = own ?? opts.workers ?? sharedBlockWorkers();
  if (workers.blockSize !== blockSize) throw new RangeError(`gzip block size ${blockSize} differs from the workers' ${workers.blockSize}`);
  const deflater = new BlockDeflater(workers, level);
  // Each block's output is copied out of its slot in order, so slots go back at once, whatever the
  // consumer of this generator does meanwhile.
  let chain: Promise<unknown> = Promise.resolve();
  const outputs: Promise<Buffer>[] = [];
  const submit = (slot: Slot, length: number) => {
    const deflated = deflater.deflate(slot, length);
    const copied = chain.then(async () => Buffer.from(await deflated));
    copied.catch(() => undefined); // awaited in order below
    void Promise.allSettled([deflated, copied]).then(() => workers.release(slot));
    chain = copied;
    outputs.push(copied);
  };
  let crc = 0;
  let length = 0;
  let slot: Slot | undefined;
  let fill = 0;
  try {
    yield gzipHeader(level);
    for await (const chunk of input) {
      crc = crc32(chunk, crc);
      length += chunk.length;
      for (let off = 0; off < chunk.length; ) {
        slot ??= await workers.acquire();
        const n = Math.min(chunk.length - off, blockSize - fill);
        chunk.copy(slot.input, fill, off, off + n);
        fill += n;
        off += n;
        if (fill === blockSize) {
          submit(slot, fill);
          slot = undefined;
          fill = 0;
          while (outputs.length >= concurrency) yield await outputs.shift()!;
        }
      }
    }
    if (slot && fill > 0) {
      submit(slot, fill);
      slot = undefined;
    }
    while (outputs.length > 0) yield await outputs.shift()!;
    yield gzipTrailer(level, crc, length);
  } finally {
    if (slot) workers.release(slot);
    await Promise.allSettled(outputs);
    await own?.close();
  }
}
