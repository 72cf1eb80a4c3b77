import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { FileLayer } from "../../image/file-layer.js";
import { type Layer } from "../../image/types.js";
import type { LayerEncoding } from "../../image/store.js";
import { buildLayerBlob, diffIdOf, writeLayerTar, type LayerBlob } from "../../layers/pipeline.js";
import type { LayerSource } from "../../layers/layer-source.js";
import type { Logger } from "../../log/logger.js";
import type { RecordLookup, RecordVerdict } from "../../restore-record/lookup.js";
import type { Limiter } from "../../util/limiter.js";
import { MediaType } from "../../oci/media-types.js";

/**
 * A layer blob this run built: its digest was computed from the bytes in the file as they were
 * written, so an upload need not hash them again (the registry checks the digest on commit).
 */
export class BuiltLayer extends FileLayer {
  readonly selfHashed = true;

  constructor(
    path: string,
    digest: string,
    diffId: string,
    size: number,
    mediaType: string,
    /** The layer's id, which upload progress lines show. */
    readonly label: string,
  ) {
    super(path, digest, diffId, size, mediaType);
  }
}

/** A layer's id as logs show it (a build for the cache alone, `<id>#cache`, is still `<id>`). */
function layerLabel(id: string): string {
  return id.replace(/#cache$/, "");
}

/** A layer the exporter produced: either a fresh blob on disk or a blob of the previous image reused. */
export interface MadeLayer {
  /** The layer for the image (a FileLayer for new ones, the previous image's layer when reused). */
  readonly layer: Layer;
  readonly diffId: string;
  readonly reused: boolean;
  /** The built blob (new layers only). */
  readonly blob?: LayerBlob;
}

/** Options of {@link LayerFactory}. */
export interface LayerFactoryOptions {
  readonly tmpDir: string;
  /** Bounds how many layers are tarred and compressed at once (one per core). */
  readonly limiter: Limiter;
  /** Called as soon as a new layer's blob exists, so its upload can start right away. */
  readonly onBuilt?: (layer: FileLayer) => void;
  /** How new layers are encoded (default gzip blobs; the daemon takes plain tars). */
  readonly encoding?: LayerEncoding;
  /** The restore record: diffIDs of directory layers known without reading them. */
  readonly record?: RecordLookup;
  readonly logger?: Logger;
}

/**
 * Turns layer sources into image layers, reading each layer's files as few times as possible:
 * a layer the restore record vouches for is not read at all; a layer expected to be unchanged is
 * only hashed (no compression, no file) and reused when its diffID matches; a layer the record
 * shows changed, and anything else, is tarred, hashed, gzipped and hashed again in one streamed
 * pass. Builds are memoised by id, so the cache step reuses the export step's work.
 */
export class LayerFactory {
  private readonly made = new Map<string, Promise<MadeLayer>>();
  private readonly tars = new Map<string, string>();
  private readonly inflight = new Set<Promise<unknown>>();

  constructor(private readonly options: LayerFactoryOptions) {}

  /**
   * A layer for `source`. `reuse` names the previous image's layers that may be reused: when one of
   * them has the layer's diffID it is returned instead of a new blob. `keepTar` also writes the
   * uncompressed tar (for a volume cache) in the same pass.
   */
  make(id: string, source: LayerSource, reuse: ReadonlyMap<string, Layer> = new Map(), keepTar = false): Promise<MadeLayer> {
    let pending = this.made.get(id);
    if (!pending) {
      pending = this.produce(id, source, reuse, keepTar);
      this.made.set(id, pending);
    }
    return pending;
  }

  /** The result of an earlier `make` for this id, if any. */
  existing(id: string): Promise<MadeLayer> | undefined {
    return this.made.get(id);
  }

  /** The uncompressed tar written for a layer, if one was kept. */
  tarOf(id: string): string | undefined {
    return this.tars.get(id);
  }

  /** The diffID of a source without compressing it (the "is it unchanged?" question): from the restore record, else read. */
  async diffId(source: LayerSource, id = ""): Promise<string> {
    const verdict = await this.options.record?.verdict(source);
    this.say(id, verdict);
    return verdict?.kind === "recorded" ? verdict.diffId : this.hash(source);
  }

  private hash(source: LayerSource): Promise<string> {
    return this.options.limiter.run(async () => (await diffIdOf(source)).diffId);
  }

  /** Resolves once no build is running any more (before the temp dir is removed). */
  async settled(): Promise<void> {
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
  }

  /**
   * Builds a new blob for `source` (and its tar when asked). Only app image layers (`announce`) are
   * handed to `onBuilt`: a layer built for the cache alone is not uploaded to the app repository.
   */
  build(id: string, source: LayerSource, keepTar: boolean, announce = false): Promise<MadeLayer> {
    const pending = this.buildNow(id, source, keepTar, announce);
    this.inflight.add(pending);
    void pending.finally(() => this.inflight.delete(pending)).catch(() => undefined);
    return pending;
  }

  private async buildNow(id: string, source: LayerSource, keepTar: boolean, announce: boolean): Promise<MadeLayer> {
    if (this.options.encoding === "tar") return this.buildTar(id, source, announce);
    const tarPath = keepTar ? join(this.options.tmpDir, `tar-${randomBytes(8).toString("hex")}.tar`) : undefined;
    const blob = await buildLayerBlob(source, this.options.tmpDir, { limiter: this.options.limiter, uncompressedPath: tarPath });
    if (tarPath) this.tars.set(id, tarPath);
    const layer = new BuiltLayer(blob.path, blob.digest, blob.diffId, blob.size, MediaType.OciLayerGzip, layerLabel(id));
    if (announce) this.options.onBuilt?.(layer);
    return { layer, diffId: blob.diffId, reused: false, blob };
  }

  /** A plain-tar layer: the tar is the blob (its digest is the diffID) and also what a volume cache keeps. */
  private async buildTar(id: string, source: LayerSource, announce: boolean): Promise<MadeLayer> {
    const path = join(this.options.tmpDir, `tar-${randomBytes(8).toString("hex")}.tar`);
    const tar = await this.options.limiter.run(() => writeLayerTar(source, path));
    this.tars.set(id, path);
    const layer = new BuiltLayer(path, tar.diffId, tar.diffId, tar.size, MediaType.OciLayer, layerLabel(id));
    if (announce) this.options.onBuilt?.(layer);
    const blob: LayerBlob = { diffId: tar.diffId, digest: tar.diffId, size: tar.size, uncompressedSize: tar.size, path, uncompressedPath: path };
    return { layer, diffId: tar.diffId, reused: false, blob };
  }

  private async produce(id: string, source: LayerSource, reuse: ReadonlyMap<string, Layer>, keepTar: boolean): Promise<MadeLayer> {
    const verdict = await this.options.record?.verdict(source);
    if (reuse.size > 0 && verdict?.kind !== "changed") {
      const diffId = verdict?.kind === "recorded" ? verdict.diffId : await this.hash(source);
      const previous = reuse.get(diffId);
      this.say(id, verdict, !previous);
      if (previous) return { layer: previous, diffId, reused: true };
    } else {
      this.say(id, verdict, true);
    }
    if (reuse.size === 0 || verdict?.kind !== "changed") return this.checked(id, verdict, await this.build(id, source, keepTar, true));
    // changed since the restore: one pass builds it, and it is still reused if its tar came out the same
    const made = await this.build(id, source, keepTar);
    const previous = reuse.get(made.diffId);
    if (previous) return { layer: previous, diffId: made.diffId, reused: true };
    if (made.layer instanceof FileLayer) this.options.onBuilt?.(made.layer);
    return made;
  }

  /** Says at debug level where a directory layer's diffID comes from (`built`: the layer is read to build it anyway). */
  private say(id: string, verdict: RecordVerdict | undefined, built = false): void {
    const logger = this.options.logger;
    if (!logger || !verdict) return;
    if (verdict.kind !== "recorded") logger.debug(`Layer '${id}': diffID from reading the layer: ${verdict.reason}`);
    else if (built) logger.debug(`Layer '${id}': diffID ${verdict.diffId} from the restore record, but no previous layer has it: reading the layer to build it`);
    else logger.debug(`Layer '${id}': diffID ${verdict.diffId} from the restore record, no file read`);
  }

  /** A built layer, with a debug line if the restore record had claimed another diffID (never expected). */
  private checked(id: string, verdict: RecordVerdict | undefined, made: MadeLayer): MadeLayer {
    if (verdict?.kind === "recorded" && verdict.diffId !== made.diffId) {
      this.options.logger?.debug(`Layer '${id}': the restore record said ${verdict.diffId}, but its tar has diffID ${made.diffId}`);
    }
    return made;
  }
}
