import { gzipSync } from "node:zlib";
import { PassThrough, type Readable } from "node:stream";
import { BufferLayer } from "../image/file-layer.js";
import { uncompressedWithProgress } from "../image/layer-progress.js";
import { MutableImage } from "../image/mutable-image.js";
import { pushImage, type BlobPusher } from "../image/registry-writer.js";
import { isNotFound, RemoteImage } from "../image/remote-image.js";
import { type Layer } from "../image/types.js";
import type { Logger } from "../log/logger.js";
import type { Transfer } from "../log/progress.js";
import { errorMessage } from "../platform/errors.js";
import { CACHE_METADATA_LABEL, emptyCacheMetadata, parseCacheMetadataLenient, type CacheMetadata } from "../platform/files/cache-metadata.js";
import type { RegistryClient } from "../registry/client.js";
import { deleteManifest } from "../registry/manifests.js";
import type { Reference } from "../registry/reference.js";
import type { Cache, CacheableLayer } from "./cache.js";
import { CacheReadError } from "./volume-errors.js";
import { MediaType } from "../oci/media-types.js";
import { sha256Digest } from "../oci/digest.js";
import { NORMALIZED_TIME } from "../oci/normalized-time.js";

/** The lifecycle's fixed timestamp for images without a creation time. */


/** diffID of an empty tar (two zero blocks). */
export const EMPTY_TAR_DIFF_ID = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef";

/** The empty layer an empty cache image gets so registries accept it (contract §5.4). */
export function emptyLayer(): BufferLayer {
  const gz = gzipSync(Buffer.alloc(1024), { level: 1 });
  gz[9] = 0xff; // OS byte "unknown": identical bytes on every platform
  return new BufferLayer(gz, sha256Digest(gz), EMPTY_TAR_DIFF_ID, MediaType.OciLayerGzip);
}

/** Options of {@link ImageCache}. */
export interface ImageCacheOptions {
  /** Platform API < 0.13: delete the previous cache manifest after pushing a new one. */
  readonly deletePrevious?: boolean;
  readonly logger?: Logger;
  /** The pusher shared with the app image push, so blobs shared by both go up once. */
  readonly pusher?: BlobPusher;
}

/**
 * The image cache (`-cache-image`, contract §5.4): read from the previous cache image (platform
 * `linux`, any arch; missing or corrupt means empty), written as a new image with no base, OCI
 * media types and the metadata label.
 */
export class ImageCache implements Cache {
  readonly kind = "image";
  private readonly previous: RemoteImage;
  private readonly next = MutableImage.scratch("linux", "");
  private previousState: Promise<{ exists: boolean; digest?: string; layers: Layer[]; label?: string }> | undefined;

  constructor(
    readonly client: RegistryClient,
    readonly ref: Reference,
    private readonly options: ImageCacheOptions = {},
  ) {
    this.previous = new RemoteImage(client, ref, { platform: { os: "linux" } });
    this.next.editableConfig.created = NORMALIZED_TIME;
  }

  name(): string {
    return this.ref.original;
  }

  private state() {
    this.previousState ??= (async () => {
      try {
        const [{ digest }, { config }, layers] = await Promise.all([this.previous.manifest(), this.previous.config(), this.previous.layers()]);
        return { exists: true, digest, layers, label: config.config?.Labels?.[CACHE_METADATA_LABEL] };
      } catch (err) {
        if (!isNotFound(err)) {
          this.options.logger?.info(`Ignoring cache image "${this.ref.original}" because it was corrupt`);
          this.options.logger?.debug(errorMessage(err));
        }
        return { exists: false, layers: [] };
      }
    })();
    return this.previousState;
  }

  async exists(): Promise<boolean> {
    return (await this.state()).exists;
  }

  async metadata(): Promise<CacheMetadata> {
    const s = await this.state();
    return s.exists ? parseCacheMetadataLenient(s.label) : emptyCacheMetadata();
  }

  private async layer(diffId: string): Promise<Layer> {
    const layer = (await this.state()).layers.find((l) => l.diffId === diffId);
    if (!layer) throw new CacheReadError(`failed to find cache layer with SHA '${diffId}'`);
    return layer;
  }

  /**
   * The layer's uncompressed tar (its blob's bytes counted on `transfer`). Every failure is a
   * CacheReadError, also one raised while the stream flows: a tampered blob fails either in gunzip
   * or at the digest check at its end, whichever comes first, and both mean the same thing (skip
   * the layer).
   */
  async retrieveLayer(diffId: string, transfer?: Transfer): Promise<Readable> {
    const layer = await this.layer(diffId);
    let stream: Readable;
    try {
      stream = await (transfer ? uncompressedWithProgress(layer, transfer) : layer.uncompressed());
    } catch (err) {
      throw new CacheReadError(`failed to get cache layer with SHA '${diffId}': ${errorMessage(err)}`, { cause: err });
    }
    const out = new PassThrough();
    stream.on("error", (err) => out.destroy(new CacheReadError(`failed to read cache layer with SHA '${diffId}': ${errorMessage(err)}`, { cause: err })));
    out.on("close", () => stream.destroy());
    return stream.pipe(out);
  }

  /** The registry verifies digests while streaming, so there is nothing to re-hash here. */
  verifyLayer(): Promise<void> {
    return Promise.resolve();
  }

  addLayer(layer: CacheableLayer): Promise<void> {
    this.next.addLayer(layer.layer, {});
    return Promise.resolve();
  }

  async reuseLayer(diffId: string): Promise<void> {
    this.next.addLayer(await this.layer(diffId), {});
  }

  setMetadata(_metadata: CacheMetadata, label: string): Promise<void> {
    this.next.setLabel(CACHE_METADATA_LABEL, label);
    return Promise.resolve();
  }

  /** Nothing to release: an image cache holds no lock. */
  close(): Promise<void> {
    return Promise.resolve();
  }

  /** An image cache never needs repairing. */
  takeNotices(): string[] {
    return [];
  }

  async commit(): Promise<void> {
    if (this.next.layerList.length === 0) this.next.addLayer(emptyLayer(), {});
    const pushed = await pushImage(this.client, this.next, [this.ref], { pusher: this.options.pusher });
    const previous = await this.state();
    if (this.options.deletePrevious && previous.exists && previous.digest && previous.digest !== pushed.digest) {
      try {
        await deleteManifest(this.client.repository(this.ref, { push: true }), previous.digest);
      } catch (err) {
        this.options.logger?.warn(`Unable to delete cache image: ${errorMessage(err)}`);
      }
    }
  }
}
