// A layer of an image in the daemon. Its blob is the uncompressed tar (digest = diffID); the bytes
// come from the launch cache or from a save of its image, only when someone reads them.
import type { Readable } from "node:stream";
import { type Layer } from "../types.js";
import { MediaType } from "../../oci/media-types.js";

/** Reads the uncompressed tar of a layer of an image in the daemon. */
export interface DaemonLayerReader {
  readLayer(imageId: string, diffId: string): Promise<Readable>;
}

/** A layer held by the daemon, as part of the image with ID `imageId`. */
export class DaemonLayer implements Layer {
  readonly mediaType = MediaType.OciLayer;
  /** Unknown until read: the Engine API does not report layer sizes. */
  readonly size = 0;

  constructor(
    readonly diffId: string,
    /** `sha256:<hex>` of the image it was found in. */
    readonly imageId: string,
    /** The reader of the store that opened it (a store recognises its own layers by it). */
    readonly reader: DaemonLayerReader,
  ) {}

  get digest(): string {
    return this.diffId;
  }

  open(): Promise<Readable> {
    return this.reader.readLayer(this.imageId, this.diffId);
  }

  uncompressed(): Promise<Readable> {
    return this.reader.readLayer(this.imageId, this.diffId);
  }
}
