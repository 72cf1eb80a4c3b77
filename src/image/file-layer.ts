import { createReadStream } from "node:fs";
import { Readable } from "node:stream";
import { createGunzip } from "node:zlib";
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

  async uncompressed(): Promise<Readable> {
    const file = await this.open();
    const gunzip = createGunzip();
    file.on("error", (err) => gunzip.destroy(err));
    return file.pipe(gunzip);
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

  async uncompressed(): Promise<Readable> {
    return (await this.open()).pipe(createGunzip());
  }
}
