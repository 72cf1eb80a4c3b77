import { readdir, rm } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import type { Cache } from "../cache/cache.js";
import { isCacheReadError } from "../cache/volume-errors.js";
import { confinedDir } from "../layers/confined-dir.js";
import { ExtractError, extractLayer } from "../layers/extract.js";
import { goQuote } from "../log/go-quote.js";
import type { Logger } from "../log/logger.js";
import { layerSubject, ProgressReporter, type Transfer } from "../log/progress.js";
import { withTimer } from "../log/timer.js";
import { errorMessage } from "../platform/errors.js";
import type { BuildpackLayersMetadata } from "../platform/files/buildpack-layers-metadata.js";
import { cacheMetadataForBuildpack, emptyCacheMetadata, type CacheMetadata } from "../platform/files/cache-metadata.js";
import type { GroupElement } from "../platform/files/group.js";
import { writeRestoredLayerMetadata } from "../platform/files/layer-content-metadata.js";
import { buildpackDirName, skippedLayerWarning, usableLayers } from "../platform/files/layer-names.js";
import type { LifecycleMetadata } from "../platform/files/lifecycle-metadata.js";
import { writeStoreToml } from "../platform/files/store.js";
import type { PlatformFeatures } from "../platform/features.js";
import { RestoreRecorder, type RecorderOptions } from "../restore-record/recorder.js";
import { createLimiter, type Limiter } from "../util/limiter.js";
import { NotRegularFileError, readRegularFile } from "../util/regular-file.js";
import { writeFileAtomic } from "../util/atomic-write.js";
import { buildpackDirLayers } from "../platform/files/buildpack-dir.js";

/** Inputs of {@link restore}. */
export interface RestorerOptions {
  readonly features: PlatformFeatures;
  readonly logger: Logger;
  readonly layersDir: string;
  readonly group: readonly GroupElement[];
  /** The previous app image's metadata from analyzed.toml. */
  readonly appMetadata: LifecycleMetadata;
  readonly cache?: Cache;
  readonly skipLayers: boolean;
  /** Owner of restored files when running as root. */
  readonly owner?: { uid: number; gid: number };
  /** Progress lines for long downloads and extractions (default: on the phase's logger). */
  readonly progress?: ProgressReporter;
  /** Write the restore record for the exporter (README "The restore record"); analyzed.toml binds it to this build. */
  readonly record?: Pick<RecorderOptions, "analyzedPath" | "beforeWalk">;
}

const SBOM_FILE = /^sbom\.(cdx|spdx|syft)\.json$/;

/** Extraction failures that are the local disk's fault, not the cached data's: those stay fatal. */
const LOCAL_FAILURES = new Set(["FS", "CLEANUP_FAILED"]);

/**
 * Whether a cached layer cannot be used: unreadable, tampered or truncated data, or an archive with
 * unsafe entries that extraction refused (nothing of it is left on disk). Such a layer is skipped
 * with a warning and rebuilt by its buildpack; other failures (the disk) exit 42.
 */
function isLayerReadError(err: unknown): boolean {
  // a cache reports any failure to read a layer (missing, truncated, tampered, a network fault) as a CacheReadError
  if (isCacheReadError(err)) return true;
  return err instanceof ExtractError && !LOCAL_FAILURES.has(err.code);
}

async function cacheMetadataOf(opts: RestorerOptions): Promise<CacheMetadata> {
  if (!opts.cache) return emptyCacheMetadata();
  const exists = await opts.cache.exists();
  for (const notice of opts.cache.takeNotices()) opts.logger.warn(notice);
  if (!exists) {
    opts.logger.info("Layer cache not found");
    return emptyCacheMetadata();
  }
  return opts.cache.metadata();
}

type LayerRecords = BuildpackLayersMetadata["layers"];

/** The layer of `layers` named `name` (own entries only: a name such as `constructor` is not inherited). */
function layerNamed(layers: LayerRecords, name: string): LayerRecords[string] | undefined {
  return Object.hasOwn(layers, name) ? layers[name] : undefined;
}

/**
 * Writes `<layer>.toml` files (contract §5.6 A and B) into the buildpack directory `dir()` gives;
 * returns the SHA remembered for each layer. The layer names were checked by the caller.
 */
async function restoreLayerMetadata(
  opts: RestorerOptions,
  bpId: string,
  dir: () => Promise<string>,
  app: LayerRecords,
  cached: LayerRecords,
): Promise<Map<string, string>> {
  const shas = new Map<string, string>();
  const write = async (name: string, data: unknown, sha: string) => {
    await writeRestoredLayerMetadata(join(await dir(), `${name}.toml`), data);
    shas.set(name, sha);
  };
  for (const [name, layer] of Object.entries(app)) {
    if (!layer.launch) continue;
    if (layer.build && !layer.cache) continue;
    if (layer.cache && layerNamed(cached, name)?.cache !== true) continue;
    opts.logger.info(`Restoring metadata for ${goQuote(`${bpId}:${name}`)} from app image`);
    await write(name, layer.data, layer.sha);
  }
  for (const [name, layer] of Object.entries(cached)) {
    if (!layer.cache) continue;
    if (layer.launch && (layerNamed(app, name) !== undefined || !opts.features.restoresCacheOnlyLaunchLayers)) continue;
    opts.logger.info(`Restoring metadata for ${goQuote(`${bpId}:${name}`)} from cache`);
    await write(name, layer.data, layer.sha);
  }
  return shas;
}

async function legacySha(bpDir: string, name: string): Promise<string> {
  try {
    return (await readRegularFile(join(bpDir, `${name}.sha`))).toString("utf8").trim();
  } catch {
    return "";
  }
}

async function restoreSbom(opts: RestorerOptions, cacheMd: CacheMetadata, limit: Limiter, progress: ProgressReporter): Promise<void> {
  const sbomDir = join(opts.layersDir, "sbom");
  const sha = cacheMd.sbom.sha;
  if (opts.cache && sha !== "") {
    const cache = opts.cache;
    opts.logger.info("Restoring data for SBOM from cache");
    await limit.run(async () => {
      try {
        await cache.verifyLayer(sha);
        await watched(progress, cache, "buildpacksio/lifecycle:cache.sbom", async (transfer) =>
          extractLayer(await cache.retrieveLayer(sha, transfer), { allowedPrefix: sbomDir, expectedDiffID: sha, owner: opts.owner }),
        );
      } catch (err) {
        if (!isLayerReadError(err)) throw err;
        opts.logger.warn(`Skipping restore for layer buildpacksio/lifecycle:cache.sbom: ${errorMessage(err)}`);
      }
    });
  }
  for (const kind of ["cache", "launch"]) {
    for (const bp of opts.group) {
      const escaped = buildpackDirName(bp.id);
      const from = join(sbomDir, kind, escaped);
      let layers;
      try {
        layers = await readdir(from, { withFileTypes: true });
      } catch {
        continue;
      }
      // only into a buildpack directory that exists, and never through a symlink out of <layers>
      const bpDir = await confinedDir(opts.layersDir, join(opts.layersDir, escaped), { create: false });
      if (bpDir === undefined) continue;
      for (const layer of layers.filter((l) => l.isDirectory())) {
        for (const file of await readdir(join(from, layer.name))) {
          const m = SBOM_FILE.exec(file);
          if (!m) continue;
          let content: Buffer;
          try {
            content = await readRegularFile(join(from, layer.name, file));
          } catch (err) {
            if (!(err instanceof NotRegularFileError)) throw err;
            opts.logger.warn(`Skipping SBOM file ${JSON.stringify(err.path)}: ${err.message}`);
            continue;
          }
          await writeFileAtomic(join(bpDir, `${layer.name}.sbom.${m[1]}.json`), content);
        }
      }
    }
  }
  await rm(sbomDir, { recursive: true, force: true });
}

/** Runs a cached layer's extraction under watch: a download from an image cache, an extraction from a volume. */
async function watched<T>(progress: ProgressReporter, cache: Cache, id: string, extract: (transfer: Transfer) => Promise<T>): Promise<T> {
  const transfer = progress.start(cache.kind === "image" ? "Downloading" : "Extracting", layerSubject(id));
  try {
    return await extract(transfer);
  } finally {
    transfer.end();
  }
}

/**
 * The restorer (contract §2.2 step 6, §5.6): store.toml and layer metadata of every buildpack from
 * the app image and the cache first (Go's order), then cached layer contents when their SHA matches
 * (extracted safely and concurrently), then SBOMs.
 */
export async function restore(opts: RestorerOptions): Promise<void> {
  await withTimer(opts.logger, "Restorer", async () => {
    const recorder = opts.record ? await RestoreRecorder.start({ ...opts.record, layersDir: opts.layersDir, owner: opts.owner, logger: opts.logger }) : undefined;
    const cacheMd = await cacheMetadataOf(opts);
    const limit = createLimiter(Math.max(2, availableParallelism()));
    const progress = opts.progress ?? new ProgressReporter(opts.logger);
    if (opts.skipLayers) opts.logger.info("Skipping buildpack layer analysis");
    const restored = await restoreMetadata(opts, cacheMd);
    const tasks: Promise<void>[] = [];
    try {
      for (const bp of restored) await restoreLayerData(opts, bp, limit, progress, tasks, recorder);
    } catch (err) {
      // let the extractions already started finish or roll back before the phase exits
      await Promise.allSettled(tasks);
      throw err;
    }
    const results = await Promise.allSettled(tasks);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw failed.reason;
    if (opts.features.sbomLayers && !opts.skipLayers) await restoreSbom(opts, cacheMd, limit, progress);
    await recorder?.finish();
  });
}

/** What the metadata pass learnt about one buildpack, for the data pass. */
interface RestoredBuildpack {
  readonly id: string;
  /** `<layers>/<bp>` as a path (extraction targets are named by it). */
  readonly dirPath: string;
  /** The directory confined to `<layers>`, when it exists. */
  readonly dir: string | undefined;
  readonly cachedLayers: LayerRecords;
  /** The SHA remembered for each layer whose metadata was written. */
  readonly shas: ReadonlyMap<string, string>;
}

/** Per group buildpack: store.toml and the `<layer>.toml` files (nothing with `-skip-layers` but store.toml). */
async function restoreMetadata(opts: RestorerOptions, cacheMd: CacheMetadata): Promise<RestoredBuildpack[]> {
  const restored: RestoredBuildpack[] = [];
  for (const bp of opts.group) {
    const dirPath = join(opts.layersDir, buildpackDirName(bp.id));
    // `<layers>/<bp>` is read, written and cleaned only if it stays inside the layers directory
    let bpDir = await confinedDir(opts.layersDir, dirPath, { create: false });
    const writableDir = async () => (bpDir ??= await confinedDir(opts.layersDir, dirPath, { create: true })) ?? dirPath;
    const app = opts.appMetadata.buildpacks.find((b) => b.key === bp.id);
    if (app?.store) await writeStoreToml(join(await writableDir(), "store.toml"), { metadata: app.store.metadata });
    if (opts.skipLayers) continue;
    const skip = (source: string) => (name: string, problem: string) => opts.logger.warn(skippedLayerWarning(bp.id, name, source, problem));
    const appLayers = usableLayers(app?.layers ?? {}, skip("the app image metadata"));
    const cachedLayers = usableLayers(cacheMetadataForBuildpack(cacheMd, bp.id).layers, skip("the cache metadata"));
    const shas = await restoreLayerMetadata(opts, bp.id, writableDir, appLayers, cachedLayers);
    restored.push({ id: bp.id, dirPath, dir: bpDir, cachedLayers, shas });
  }
  return restored;
}

/**
 * One buildpack's layer data: removal of layers with a wrong SHA, and the extraction of cached
 * layers, started on `limit` and pushed to `tasks`.
 */
async function restoreLayerData(
  opts: RestorerOptions,
  bp: RestoredBuildpack,
  limit: Limiter,
  progress: ProgressReporter,
  tasks: Promise<void>[],
  recorder: RestoreRecorder | undefined,
): Promise<void> {
  const dir = bp.dir;
  if (dir === undefined) return;
  for (const { name } of await buildpackDirLayers(dir)) {
    const cachedLayer = layerNamed(bp.cachedLayers, name);
    if (!cachedLayer?.cache) continue;
    const sha = bp.shas.get(name) ?? (await legacySha(dir, name));
    const id = `${bp.id}:${name}`;
    if (sha !== cachedLayer.sha) {
      opts.logger.info(`Removing ${goQuote(id)}, wrong sha`);
      await Promise.all([join(dir, name), join(dir, `${name}.sha`), join(dir, `${name}.toml`)].map((p) => rm(p, { recursive: true, force: true })));
      continue;
    }
    const cache = opts.cache;
    if (!cache) continue;
    opts.logger.info(`Restoring data for ${goQuote(id)} from cache`);
    const task = limit.run(async () => {
      try {
        const track = recorder?.track(join(bp.dirPath, name), sha, cache.committedLayerPath?.(sha));
        await cache.verifyLayer(sha);
        await watched(progress, cache, id, async (transfer) =>
          extractLayer(await cache.retrieveLayer(sha, transfer), {
            allowedPrefix: join(bp.dirPath, name),
            // links may point at other buildpacks' layers (venvs) but never out of the layers dir
            symlinkScope: opts.layersDir,
            expectedDiffID: sha,
            owner: opts.owner,
            // the layer's files keep the mtimes they were cached with (and their modes)
            restoreMtimes: true,
            observe: track?.observe,
          }),
        );
        track?.restored();
      } catch (err) {
        if (!isLayerReadError(err)) throw new Error(`restoring layer '${id}': ${errorMessage(err)}`, { cause: err });
        opts.logger.warn(`Skipping restore for layer ${id}: ${errorMessage(err)}`);
      }
    });
    // observed by the caller's allSettled; until then this loop awaits other work, and a
    // failure meanwhile (a full disk) must not surface as an unhandled rejection
    task.catch(() => undefined);
    tasks.push(task);
  }
}
