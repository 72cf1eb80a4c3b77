// A pass-through stage that counts and optionally hashes the bytes flowing into the tar parser, and
// remembers whether the archive ended with its end-of-archive marker (two zero blocks). tar-stream
// accepts an archive cut off exactly at an entry boundary, so without that check a truncated layer
// would extract "successfully" with files missing.
import { createHash, type Hash } from "node:crypto";
import { Transform, type TransformCallback } from "node:stream";
import { ExtractError } from "./extract-error.js";

const END_MARKER = 1024;

/** Options for {@link ByteProbe}. */
export interface ByteProbeOptions {
  /** Compute the sha256 of the bytes (also when no expected digest is given). */
  hash: boolean;
  /** `sha256:<hex>` the bytes must hash to; checked when the stream ends. */
  expected?: string | undefined;
  /** What the digest is called in the mismatch message ("diffID", "digest"). */
  label: string;
  /** Keep the last 1024 bytes so {@link ByteProbe.endsWithMarker} can answer. */
  trackEndMarker: boolean;
  /** Sees every chunk as it passes. */
  observe?: ((chunk: Buffer) => void) | undefined;
}

/** Counts, hashes and end-checks a byte stream while passing it through unchanged. */
export class ByteProbe extends Transform {
  bytes = 0;
  digest: string | undefined;
  private readonly hasher: Hash | undefined;
  private tail: Buffer = Buffer.alloc(0);

  constructor(private readonly opts: ByteProbeOptions) {
    super({ highWaterMark: 1024 * 1024 });
    this.hasher = opts.hash || opts.expected !== undefined ? createHash("sha256") : undefined;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    this.hasher?.update(chunk);
    this.opts.observe?.(chunk);
    if (this.opts.trackEndMarker) this.keepTail(chunk);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    if (this.hasher) this.digest = `sha256:${this.hasher.digest("hex")}`;
    const want = this.opts.expected;
    if (want !== undefined && this.digest !== want) {
      callback(
        new ExtractError(
          "DIGEST_MISMATCH",
          `layer ${this.opts.label} mismatch: expected '${want}'; found '${this.digest ?? ""}'`,
        ),
      );
      return;
    }
    callback();
  }

  private keepTail(chunk: Buffer): void {
    if (chunk.length >= END_MARKER) {
      this.tail = Buffer.from(chunk.subarray(chunk.length - END_MARKER));
    } else {
      const joined = Buffer.concat([this.tail, chunk]);
      this.tail = joined.length > END_MARKER ? joined.subarray(joined.length - END_MARKER) : joined;
    }
  }

  /** Whether the bytes seen so far end with a tar end-of-archive marker (needs trackEndMarker). */
  endsWithMarker(): boolean {
    if (this.bytes % 512 !== 0 || this.tail.length < END_MARKER) return false;
    for (const byte of this.tail) if (byte !== 0) return false;
    return true;
  }
}
