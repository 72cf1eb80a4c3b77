// The launch cache (`-launch-cache`, contract §5.5): a volume cache of the image's layers above the
// run image, keyed by diffID, so the next build can read and resend them when the daemon has lost
// the previous image. Every such layer is staged once before the image is loaded (new layers are
// hard-linked from the exporter's tar, reused ones carried over from the committed cache, and only
// layers found nowhere else are fetched from the daemon); the store commits it after the image was
// saved under its primary name, so a failed export leaves the committed cache as it was.
import { join } from "node:path";
import type { LayerTarCache } from "./layer-tar-cache.js";
import { FileLayer } from "../file-layer.js";
import type { Layer } from "../types.js";
import { DaemonLayer } from "./daemon-layer.js";
import { compressionOf } from "../compression.js";

/** Fetches layers only the daemon holds into `dir`, handing each file to `onLayer`. */
export type DaemonLayerFetch = (layers: readonly DaemonLayer[], dir: string, onLayer: (diffId: string, path: string) => Promise<void>) => Promise<void>;

/** The layers of `diffIds` above the longest bottom run they share with `base` (all of them without a base). */
export function layersAbove<T extends { readonly diffId: string }>(layers: readonly T[], base: readonly string[] | undefined): T[] {
  if (!base) return [...layers];
  let shared = 0;
  while (shared < base.length && shared < layers.length && layers[shared]?.diffId === base[shared]) shared++;
  return layers.slice(shared);
}

/** Path of a staged layer tar (the volume cache's naming: `staging/<diffID>.tar`). */
export function stagedPath(cache: LayerTarCache, diffId: string): string {
  return join(cache.stagingDir, `${diffId}.tar`);
}

/**
 * Stages every distinct layer of `layers` into the launch cache's staging directory and returns
 * the staged tar of each (diffID → path), which the load can send from.
 */
export async function stageLaunchLayers(cache: LayerTarCache, layers: readonly Layer[], fetch: DaemonLayerFetch): Promise<Map<string, string>> {
  const staged = new Map<string, string>();
  const fromDaemon = new Map<string, DaemonLayer>();
  for (const layer of layers) {
    const diffId = layer.diffId;
    if (staged.has(diffId) || fromDaemon.has(diffId)) continue;
    const isDaemonLayer = layer instanceof DaemonLayer;
    if (layer instanceof FileLayer && compressionOf(layer.mediaType) === "none") {
      await cache.addLayerFile(layer.path, diffId, { transfer: "link" });
    } else if (await cache.hasLayer(diffId)) {
      await cache.reuseLayer(diffId);
    } else if (isDaemonLayer) {
      fromDaemon.set(diffId, layer);
      continue;
    } else {
      const compression = compressionOf(layer.mediaType);
      await cache.addLayerStream(compression === "none" ? await layer.open() : await layer.uncompressed(), diffId);
    }
    staged.set(diffId, stagedPath(cache, diffId));
  }
  if (fromDaemon.size > 0) {
    await fetch([...fromDaemon.values()], cache.stagingDir, async (diffId, path) => {
      await cache.addLayerFile(path, diffId, { transfer: "move" });
      staged.set(diffId, stagedPath(cache, diffId));
    });
  }
  return staged;
}
