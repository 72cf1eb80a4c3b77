// Images in a Docker daemon (`-daemon`). Reads go through inspect/history; layer contents come
// from the launch cache, or from a save of one image from which only the wanted layers are taken.
// A save sends the daemon only the layers it lacks: layers it holds go as zero-byte placeholders
// (see layer-index.ts for which), and only when the daemon refuses them is the image loaded again
// with every layer's content. The load starts with the first new layer the exporter announces
// (layerReady), so layers are sent while later ones are still being built; save completes it.
// Nothing is tagged unless the load succeeded.
import { mkdtemp, open, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import type { LayerTarCache } from "./layer-tar-cache.js";
import type { Logger } from "../../log/logger.js";
import type { ImageStore, ProbeResult, SavedName, SaveResult, StoredImage } from "../store.js";
import { FileLayer } from "../file-layer.js";
import { type Image, type Layer } from "../types.js";
import type { DaemonKind } from "./daemon-kind.js";
import { emptyDaemonStats, type DaemonStats } from "./daemon-stats.js";
import { DaemonImage } from "./daemon-image.js";
import { DaemonLayer, type DaemonLayerReader } from "./daemon-layer.js";
import { ArchiveWriter, dockerArchive, type ArchiveLayer, type ArchiveProgress } from "./docker-archive.js";
import type { EngineClient } from "./engine-client.js";
import { DaemonError, isDaemonError } from "./engine-errors.js";
import { InspectSchema } from "./engine-schemas.js";
import { loadArchive, type LoadOutcome } from "./image-loader.js";
import { imagePath, tagTarget } from "./image-names.js";
import { layersAbove, stageLaunchLayers } from "./launch-cache.js";
import { fileContent, isLocalPlainTar, localContent, plainContent } from "./layer-contents.js";
import { LayerFetcher } from "./layer-fetcher.js";
import { DaemonLayerIndex } from "./layer-index.js";
import { PieceQueue } from "./piece-queue.js";
import { MediaType } from "../../oci/media-types.js";
import { sha256Digest } from "../../oci/digest.js";

/** Options of a {@link DaemonStore}. */
export interface DaemonStoreOptions {
  /** The launch cache (`-launch-cache`), opened by the phase; reads use it, saves stage and commit it. */
  readonly launchCache?: LayerTarCache;
  /** Where layers fetched from the daemon are kept while needed (default the OS temp dir). */
  readonly tempDir?: string;
  /**
   * Which placeholder rules to follow instead of the detected daemon kind's: `docker-containerd`
   * always sends complete images, `docker` only leaves out a stored chain from the bottom.
   */
  readonly kind?: DaemonKind;
}

const READABLE: ProbeResult = { readable: true };

/** A load started before save, for one name: its archive is fed with each new layer as it is built. */
interface EarlyLoad {
  readonly name: string;
  readonly writer: ArchiveWriter;
  readonly queue: PieceQueue;
  /** The daemon's verdict, or why the request failed (never rejects). */
  readonly result: Promise<{ readonly outcome: LoadOutcome } | { readonly error: unknown }>;
  /** diffIDs queued so far. */
  readonly queued: Set<string>;
  /** Its archive was completed or failed on purpose: nothing more may be queued. */
  ended: boolean;
}

/** A part of an archive that fails, so a load in progress ends without the daemon storing anything. */
function failing(err: Error): AsyncIterable<Buffer> {
  return {
    [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(err) }),
  };
}

/** The image store of daemon mode. Construct it with an {@link EngineClient} connected before the privilege drop. */
export class DaemonStore implements ImageStore, DaemonLayerReader {
  readonly kind = "daemon";
  readonly layerEncoding = "tar";
  /** What this store moved so far (for tests and benchmarks). */
  readonly stats: DaemonStats = emptyDaemonStats();
  private readonly index = new DaemonLayerIndex();
  private readonly fetcher: LayerFetcher;
  /** The image last opened with openBase: layers above it go into the launch cache. */
  private base?: DaemonImage;
  /** The load layerReady started, until save finishes it. */
  private early?: EarlyLoad;
  private readonly progress: ArchiveProgress = { layerBytes: (n) => void (this.stats.layerBytesSent += n) };

  constructor(
    readonly engine: EngineClient,
    private readonly options: DaemonStoreOptions = {},
  ) {
    this.fetcher = new LayerFetcher(engine, this.stats);
  }

  open(name: string): DaemonImage {
    return new DaemonImage({ engine: this.engine, reader: this, index: this.index }, name);
  }

  /** Opens the image to build on or rebase onto; rejects with a "not-found" DaemonError when the daemon lacks it. */
  async openBase(name: string, _logger?: Logger): Promise<StoredImage> {
    const image = this.open(name);
    if (!(await image.exists())) throw new DaemonError("not-found", `image '${name}' not found in the daemon`, 404);
    this.base = image;
    return image;
  }

  /** Access checks are no-ops in daemon mode. */
  probeRead(_name: string): Promise<ProbeResult> {
    return Promise.resolve(READABLE);
  }

  probeWrite(_name: string): Promise<ProbeResult> {
    return Promise.resolve(READABLE);
  }

  describe(name: string): string {
    return name;
  }

  private async workDir(): Promise<string> {
    return mkdtemp(join(this.options.tempDir ?? tmpdir(), "cnb-daemon-"));
  }

  /** A committed launch-cache layer as a plain-tar layer (contract §5.5: reused layers come from the launch cache when present). */
  async cachedLayer(diffId: string): Promise<Layer | undefined> {
    const cache = this.options.launchCache;
    if (!cache || !(await cache.hasLayer(diffId))) return undefined;
    const path = await cache.retrieveLayerFile(diffId);
    return new FileLayer(path, diffId, diffId, (await stat(path)).size, MediaType.OciLayer);
  }

  /** The uncompressed tar of a layer of an image in the daemon: from the launch cache, else from a save of that image. */
  async readLayer(imageId: string, diffId: string): Promise<Readable> {
    const cache = this.options.launchCache;
    if (cache && (await cache.hasLayer(diffId))) return cache.retrieveLayer(diffId);
    const dir = await this.workDir();
    try {
      let path: string | undefined;
      await this.fetcher.fetch(imageId, new Set([diffId]), dir, (_d, p) => {
        path = p;
        return Promise.resolve();
      });
      if (path === undefined) throw new DaemonError("invalid-response", `layer ${diffId} was not found in image ${imageId}`);
      // reading an unlinked file keeps nothing behind, however the stream ends
      const handle = await open(path, "r");
      return handle.createReadStream({ highWaterMark: 1 << 20 });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** Fetches layers only the daemon has (one partial save per image) into `dir`. */
  private async fetchDaemonLayers(layers: readonly DaemonLayer[], dir: string, onLayer: (diffId: string, path: string) => Promise<void>): Promise<void> {
    const byImage = new Map<string, Set<string>>();
    const seen = new Set<string>();
    for (const layer of layers) {
      if (seen.has(layer.diffId)) continue;
      seen.add(layer.diffId);
      const wanted = byImage.get(layer.imageId) ?? new Set<string>();
      wanted.add(layer.diffId);
      byImage.set(layer.imageId, wanted);
    }
    for (const [imageId, wanted] of byImage) await this.fetcher.fetch(imageId, wanted, dir, onLayer);
  }

  /** The archive layers of one load attempt: placeholders where `mask` says, contents for the rest (fetched from the daemon when needed). */
  private async contents(layers: readonly Layer[], mask: readonly boolean[], files: Map<string, string>, work: string): Promise<ArchiveLayer[]> {
    const contents: ArchiveLayer[] = [];
    const missing: DaemonLayer[] = [];
    for (const [i, layer] of layers.entries()) {
      if (mask[i] === true) {
        contents.push({ diffId: layer.diffId });
        continue;
      }
      const content = await localContent(layer, { files, launchCache: this.options.launchCache });
      if (!content && layer instanceof DaemonLayer) missing.push(layer);
      contents.push({ diffId: layer.diffId, content });
    }
    if (missing.length > 0) {
      await this.fetchDaemonLayers(missing, work, (diffId, path) => {
        files.set(diffId, path);
        return Promise.resolve();
      });
      for (const [i, entry] of contents.entries()) {
        const path = files.get(entry.diffId);
        if (mask[i] !== true && !entry.content && path !== undefined) contents[i] = { diffId: entry.diffId, content: await fileContent(path) };
      }
    }
    return contents;
  }

  /** One load attempt, the whole archive at once. */
  private async loadOnce(config: Buffer, repoTag: string, layers: readonly Layer[], mask: readonly boolean[], files: Map<string, string>, work: string, what: string): Promise<LoadOutcome> {
    const contents = await this.contents(layers, mask, files, work);
    this.stats.loads++;
    this.stats.placeholdersSent += mask.filter(Boolean).length;
    return loadArchive(this.engine, dockerArchive({ config, repoTags: [repoTag], layers: contents }, this.progress), what);
  }

  /** What errors of a load of `name` say it was doing. */
  private loadWhat(name: string): string {
    return `loading image '${name}' into the Docker daemon at ${this.engine.endpoint.display}`;
  }

  /**
   * A new layer of the image to be saved under `name` was built: the load starts now, with this
   * layer's tar, unless the daemon holds it already (it will be a placeholder) or it is not a local
   * plain tar. One image at a time: layers announced for another name wait for save.
   */
  layerReady(name: string, layer: Layer): void {
    if (!isLocalPlainTar(layer)) return;
    if ((this.options.kind ?? this.engine.kind) === "podman" && this.index.holds(layer.diffId)) return;
    if (this.early && this.early.name !== name) return;
    if (!this.early) {
      try {
        tagTarget(name);
      } catch {
        return; // save reports the bad name
      }
      const writer = new ArchiveWriter(this.progress);
      const queue = new PieceQueue();
      this.stats.loads++;
      const result = loadArchive(this.engine, queue, this.loadWhat(name)).then(
        (outcome) => ({ outcome }),
        (error: unknown) => ({ error }),
      );
      this.early = { name, writer, queue, result, queued: new Set(), ended: false };
    }
    const early = this.early;
    if (early.queued.has(layer.diffId)) return;
    early.queued.add(layer.diffId);
    early.queue.push(early.writer.layer(layer.diffId, plainContent(layer)));
  }

  /** Completes an early load with the rest of the image; a failure on our side ends it with nothing stored. */
  private async finishEarly(early: EarlyLoad, config: Buffer, repoTag: string, layers: readonly Layer[], mask: readonly boolean[], files: Map<string, string>, work: string): Promise<LoadOutcome> {
    const contents = await this.contents(layers, mask, files, work);
    this.stats.placeholdersSent += mask.filter(Boolean).length;
    early.ended = true;
    early.queue.push(early.writer.finish({ config, repoTags: [repoTag], layers: contents }));
    early.queue.close();
    const result = await early.result;
    if ("error" in result) throw result.error;
    return result.outcome;
  }

  /** Ends an early load that will not be completed: the daemon sees the archive fail and stores nothing. */
  private async endEarly(early: EarlyLoad, why: string): Promise<void> {
    if (early.ended) return;
    early.ended = true;
    early.queue.push(failing(new Error(why)));
    early.queue.close();
    await early.result;
  }

  /** The ID of the image just loaded under `repoTag`, and whether the load tagged it. */
  private async loadedId(repoTag: string, expectedId: string): Promise<{ id: string; tagged: boolean }> {
    let id: string | undefined;
    try {
      id = (await this.engine.getJson(imagePath(repoTag, "/json"), InspectSchema, `inspecting the loaded image '${repoTag}'`)).Id;
    } catch (err) {
      if (!isDaemonError(err, "not-found")) throw err;
    }
    // Docker's containerd store names images by manifest digest, not by config digest
    if (id !== undefined && (id === expectedId || this.engine.kind === "docker-containerd")) return { id, tagged: true };
    return { id: expectedId, tagged: false };
  }

  private async tag(imageId: string, name: string): Promise<void> {
    const { repo, tag } = tagTarget(name);
    const what = `tagging image ${imageId.slice(7, 19)} as '${name}'`;
    const res = await this.engine.request({ method: "POST", path: imagePath(imageId, "/tag"), query: { repo, tag }, what });
    if (res.statusCode < 200 || res.statusCode >= 300) throw await this.engine.failure(res, what);
    await res.body.dump();
  }

  /**
   * Loads `image` under its first name and tags it with the others (completing the load layerReady
   * started for that name). Rejects, with nothing tagged, when the load fails; a tag that fails is
   * reported for its name. With a launch cache, the layers above the base are staged before the
   * load is completed and committed once the first name was saved.
   */
  async save(image: Image, names: readonly string[]): Promise<SaveResult> {
    const primary = names[0];
    // the load layerReady started for this name, if any; one for another name is of no use
    const early = this.early;
    this.early = undefined;
    const mine = early && early.name === primary ? early : undefined;
    try {
      if (early && !mine) await this.endEarly(early, `the load of '${early.name}' was abandoned`);
      return await this.saveWith(mine, image, names);
    } finally {
      if (mine) await this.endEarly(mine, `saving '${mine.name}' failed before the image was complete`);
    }
  }

  private async saveWith(early: EarlyLoad | undefined, image: Image, names: readonly string[]): Promise<SaveResult> {
    const primary = names[0];
    if (primary === undefined) throw new Error("saving an image needs at least one name");
    const target = tagTarget(primary);
    const repoTag = `${target.repo}:${target.tag}`;
    const [{ raw: config, config: parsed }, layers, manifest] = await Promise.all([image.config(), image.layers(), image.manifest()]);
    const diffIds = layers.map((l) => l.diffId);
    if (parsed.rootfs.diff_ids.join(",") !== diffIds.join(",")) {
      throw new Error(`image config lists ${parsed.rootfs.diff_ids.length} diffIDs that do not match its ${layers.length} layers`);
    }
    const what = this.loadWhat(primary);
    const work = await this.workDir();
    try {
      const launchCache = this.options.launchCache;
      let files = new Map<string, string>();
      if (launchCache) {
        const baseIds = this.base ? ((await this.base.inspect())?.RootFS.Layers ?? undefined) : undefined;
        files = await stageLaunchLayers(launchCache, layersAbove(layers, baseIds), (ls, dir, onLayer) => this.fetchDaemonLayers(ls, dir, onLayer));
      }
      const mask = this.index.placeholders(this.options.kind ?? this.engine.kind, diffIds);
      let outcome = early
        ? await this.finishEarly(early, config, repoTag, layers, mask, files, work)
        : await this.loadOnce(config, repoTag, layers, mask, files, work, what);
      if (!outcome.ok && mask.some(Boolean)) {
        this.stats.refusedLoads++;
        outcome = await this.loadOnce(config, repoTag, layers, diffIds.map(() => false), files, work, what);
      }
      if (!outcome.ok) {
        this.stats.refusedLoads++;
        throw outcome.error;
      }
      this.index.record(diffIds);

      const { id, tagged } = await this.loadedId(repoTag, sha256Digest(config));
      const results: SavedName[] = [];
      for (const [i, name] of names.entries()) {
        if (i === 0 && tagged) {
          results.push({ name, display: name });
          continue;
        }
        try {
          await this.tag(id, name);
          results.push({ name, display: name });
        } catch (err) {
          results.push({ name, display: name, error: err instanceof Error ? err : new Error(String(err)) });
        }
      }
      if (launchCache && results[0]?.error === undefined) await launchCache.commit();
      const hex = id.slice("sha256:".length);
      return { names: results, displayId: hex.slice(0, 12), report: { imageId: hex, manifestSize: manifest.raw.length } };
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }
}
