import { stat } from "node:fs/promises";
import type { Readable } from "node:stream";
import type { Layer } from "../image/types.js";
import { countedStream, type Transfer } from "../log/progress.js";
import { parseCacheMetadataLenient, type CacheMetadata } from "../platform/files/cache-metadata.js";
import type { VolumeCache } from "./volume-cache.js";

/** A layer ready to be put in a cache: its diffID, the image layer (image caches) and its tar (volume caches). */
export interface CacheableLayer {
  readonly id: string;
  readonly diffId: string;
  /** The compressed layer (what an image cache stores; may already be in a registry). */
  readonly layer: Layer;
  /** The uncompressed tar (what a volume cache stores), when one was written. */
  readonly tarPath?: string;
}

/**
 * The build cache as phases see it (contract §5): metadata plus layer tars by diffID, read from the
 * previous build and written for the next one. Volume and image caches implement it.
 */
export interface Cache {
  readonly kind: "volume" | "image";
  /** For log messages. */
  name(): string;
  /** Whether a previous cache exists (`Layer cache not found` otherwise). */
  exists(): Promise<boolean>;
  /** The previous build's metadata; absent or unreadable metadata is empty, never an error. */
  metadata(): Promise<CacheMetadata>;
  /**
   * The uncompressed tar of a cached layer; a CacheReadError when it cannot be read. `transfer`
   * hears of the bytes read (the blob's bytes for an image cache) and of the total.
   */
  retrieveLayer(diffId: string, transfer?: Transfer): Promise<Readable>;
  /** Where a volume cache keeps a committed layer's tar (volume caches only; the file may not exist). */
  committedLayerPath?(diffId: string): string;
  /** Re-hashes a cached layer (volume caches); a CacheReadError on mismatch. */
  verifyLayer(diffId: string): Promise<void>;
  /** Adds a new layer to the next cache. */
  addLayer(layer: CacheableLayer): Promise<void>;
  /** Carries a layer of the previous cache over to the next one. */
  reuseLayer(diffId: string): Promise<void>;
  setMetadata(metadata: CacheMetadata, label: string): Promise<void>;
  /** Makes the next cache the current one. */
  commit(): Promise<void>;
  /** Ends this run's use of the cache without committing (releases what writing took, e.g. a lock). */
  close(): Promise<void>;
  /** What opening or using the cache had to repair (a commit a crash interrupted), for the log; each once. */
  takeNotices(): string[];
}

/** The volume cache (`-cache-dir`) as a {@link Cache}. */
export class VolumeCacheAdapter implements Cache {
  readonly kind = "volume";
  constructor(readonly volume: VolumeCache) {}

  name(): string {
    return this.volume.name();
  }
  exists(): Promise<boolean> {
    return this.volume.exists();
  }
  async metadata(): Promise<CacheMetadata> {
    return parseCacheMetadataLenient(await this.volume.retrieveMetadataText());
  }
  async retrieveLayer(diffId: string, transfer?: Transfer): Promise<Readable> {
    const stream = await this.volume.retrieveLayer(diffId);
    if (!transfer) return stream;
    const size = await this.volume
      .retrieveLayerFile(diffId)
      .then((path) => stat(path))
      .then((s) => s.size, () => undefined);
    if (size !== undefined) transfer.setTotal(size);
    return countedStream(stream, transfer);
  }
  committedLayerPath(diffId: string): string {
    return this.volume.committedLayerPath(diffId);
  }
  verifyLayer(diffId: string): Promise<void> {
    return this.volume.verifyLayer(diffId);
  }
  async addLayer(layer: CacheableLayer): Promise<void> {
    if (!layer.tarPath) throw new Error(`layer '${layer.id}' has no uncompressed tar for the volume cache`);
    // the tar is the exporter's own temp file, so it can be hard-linked instead of copied
    await this.volume.addLayerFile(layer.tarPath, layer.diffId, { transfer: "link" });
  }
  reuseLayer(diffId: string): Promise<void> {
    return this.volume.reuseLayer(diffId);
  }
  setMetadata(_metadata: CacheMetadata, label: string): Promise<void> {
    return this.volume.setMetadata(label);
  }
  commit(): Promise<void> {
    return this.volume.commit();
  }
  close(): Promise<void> {
    return this.volume.close();
  }
  takeNotices(): string[] {
    return this.volume.takeNotices();
  }
}
