import type { Readable } from "node:stream";
import { countedStream, type Transfer } from "../log/progress.js";
import { uncompressedStream } from "./compression.js";
import type { Layer } from "./types.js";

/**
 * A layer's uncompressed tar, with its blob's bytes counted on `transfer` as they are read (the
 * compressed bytes: what moves over the network for a registry layer); the total is the blob size
 * when the layer knows it.
 */
export function uncompressedWithProgress(layer: Layer, transfer: Transfer): Promise<Readable> {
  if (layer.size > 0) transfer.setTotal(layer.size);
  return uncompressedStream(layer.mediaType, layer.digest, async () => countedStream(await layer.open(), transfer));
}
