import { createReadStream } from "node:fs";
import { Readable } from "node:stream";
import { uncompressedStream } from "./compression.js";
import type { Layer } from "./types.js";

/** A layer whose compressed blob is a local file with known digests (a layer the exporter built). */
export class FileLayer implements Layer {
  /** Set once the blob was pushed, so later pushes on the same registry can mount it. */
  source?: { registry: string; repository: string };

  constructor(
    readonly path: string,
    readonly digest: string,
    readonly diffId: string,
    readonly size: number,
    readonly mediaType: string,
  ) {}

  open(): Promise<Readable> {
    return Promise.resolve(createReadStream(this.path, { highWaterMark: 1 << 20 }));
  }

  uncompressed(): Promise<Readable> {
    return uncompressedStream(this.mediaType, this.digest, () => this.open());
  }
}

/** A small layer held in memory (the empty layer of an empty cache image). */
export class BufferLayer implements Layer {
  constructor(
    readonly bytes: Buffer,
    readonly digest: string,
    readonly diffId: string,
    readonly mediaType: string,
  ) {}

  get size(): number {
    return this.bytes.length;
  }

  open(): Promise<Readable> {
    return Promise.resolve(Readable.from([this.bytes]));
  }

  uncompressed(): Promise<Readable> {
    return uncompressedStream(this.mediaType, this.digest, () => this.open());
  }
}
