// Where the uncompressed tar of a layer to be loaded comes from, cheapest first: the layer's own
// plain tar (the exporter's), a file already at hand (a staged launch-cache file, a layer fetched
// earlier), the committed launch cache, a compressed local blob gunzipped on the fly; undefined
// when only the daemon has it.
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import type { Readable } from "node:stream";
import type { LayerTarCache } from "./layer-tar-cache.js";
import type { Layer } from "../types.js";
import { DaemonLayer } from "./daemon-layer.js";
import type { LayerContent } from "./docker-archive.js";
import { compressionOf } from "../compression.js";

/** How a layer blob is compressed, from its media type. */

/** A tar file as layer content. */
export async function fileContent(path: string): Promise<LayerContent> {
  const { size } = await stat(path);
  return { size, open: () => Promise.resolve(createReadStream(path, { highWaterMark: 1 << 20 })) };
}

async function countBytes(stream: Readable): Promise<number> {
  let n = 0;
  for await (const chunk of stream) n += (chunk as Buffer).length;
  return n;
}

/** Sources of layer files besides the layers themselves. */
export interface LocalSources {
  /** Tars already on disk by diffID (staged in the launch cache, or fetched from the daemon). */
  readonly files: ReadonlyMap<string, string>;
  readonly launchCache?: LayerTarCache;
}

/**
 * A plain-tar layer's own bytes as content; the exporter's tars (`selfHashed`, hashed to their diffID
 * as they were written) are not hashed again while sent.
 */
export function plainContent(layer: Layer): LayerContent {
  const selfHashed = (layer as { readonly selfHashed?: unknown }).selfHashed === true;
  return { size: layer.size, open: () => layer.open(), ...(selfHashed ? { selfHashed } : {}) };
}

/** Whether a layer is a plain tar this process holds (not one only the daemon has). */
export function isLocalPlainTar(layer: Layer): boolean {
  return !(layer instanceof DaemonLayer) && compressionOf(layer.mediaType) === "none";
}

/** The content of `layer` without asking the daemon, or undefined when only the daemon has it. */
export async function localContent(layer: Layer, sources: LocalSources): Promise<LayerContent | undefined> {
  if (isLocalPlainTar(layer)) return plainContent(layer);
  const file = sources.files.get(layer.diffId);
  if (file !== undefined) return fileContent(file);
  const daemonLayer = layer instanceof DaemonLayer;
  const compression = compressionOf(layer.mediaType);
  if (sources.launchCache && (await sources.launchCache.hasLayer(layer.diffId))) {
    return fileContent(await sources.launchCache.retrieveLayerFile(layer.diffId));
  }
  if (daemonLayer) return undefined;
  if (compression === "gzip") {
    // the archive header needs the uncompressed size before the bytes: one counting pass
    const size = await countBytes(await layer.uncompressed());
    return { size, open: () => layer.uncompressed() };
  }
  throw new Error(`layer ${layer.diffId} has media type ${layer.mediaType}, which cannot be loaded into a Docker daemon`);
}
