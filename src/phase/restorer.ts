import { copyFile, mkdir, readdir, readFile, rm } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import type { Cache } from "../cache/cache.js";
import { isCacheReadError } from "../cache/volume-errors.js";
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
import type { LifecycleMetadata } from "../platform/files/lifecycle-metadata.js";
import { writeStoreToml } from "../platform/files/store.js";
import type { PlatformFeatures } from "../platform/features.js";
import { NetworkError, RegistryError } from "../registry/errors.js";
import { DigestMismatchError } from "../registry/manifests.js";
import { createLimiter, type Limiter } from "../util/limiter.js";

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
}

/** A buildpack ID as a directory name (`acme/node` → `acme_node`). */
export function escapeBuildpackId(id: string): string {
  return id.replaceAll("/", "_");
}

const NOT_LAYERS = new Set(["store.toml", "launch.toml", "build.toml"]);
const SBOM_FILE = /^sbom\.(cdx|spdx|syft)\.json$/;

/** Extraction failures that are the local disk's fault, not the cached data's: those stay fatal. */
const LOCAL_FAILURES = new Set(["FS", "CLEANUP_FAILED"]);

/**
 * Whether a cached layer cannot be used: unreadable, tampered or truncated data, or an archive with
 * unsafe entries that extraction refused (nothing of it is left on disk). Such a layer is skipped
 * with a warning and rebuilt by its buildpack; other failures (the disk) exit 42.
 */
function isLayerReadError(err: unknown): boolean {
  if (isCacheReadError(err) || err instanceof DigestMismatchError || err instanceof NetworkError || err instanceof RegistryError) return true;
  return err instanceof ExtractError && !LOCAL_FAILURES.has(err.code);
}

async function cacheMetadataOf(opts: RestorerOptions): Promise<CacheMetadata> {
  if (!opts.cache) return emptyCacheMetadata();
  if (!(await opts.cache.exists())) {
    opts.logger.info("Layer cache not found");
    return emptyCacheMetadata();
  }
  return opts.cache.metadata();
}

/** Writes `<layer>.toml` files (contract §5.6 A and B); returns the SHA remembered for each layer. */
async function restoreLayerMetadata(
  opts: RestorerOptions,
  bpId: string,
  bpDir: string,
  app: BuildpackLayersMetadata | undefined,
  cached: BuildpackLayersMetadata,
): Promise<Map<string, string>> {
  const shas = new Map<string, string>();
  const write = async (name: string, data: unknown, sha: string) => {
    await writeRestoredLayerMetadata(join(bpDir, `${name}.toml`), data);
    shas.set(name, sha);
  };
  for (const [name, layer] of Object.entries(app?.layers ?? {})) {
    if (!layer.launch) continue;
    if (layer.build && !layer.cache) continue;
    if (layer.cache && cached.layers[name]?.cache !== true) continue;
    opts.logger.info(`Restoring metadata for ${goQuote(`${bpId}:${name}`)} from app image`);
    await write(name, layer.data, layer.sha);
  }
  for (const [name, layer] of Object.entries(cached.layers)) {
    if (!layer.cache) continue;
    if (layer.launch && (app?.layers[name] !== undefined || !opts.features.restoresCacheOnlyLaunchLayers)) continue;
    opts.logger.info(`Restoring metadata for ${goQuote(`${bpId}:${name}`)} from cache`);
    await write(name, layer.data, layer.sha);
  }
  return shas;
}

/** Names of the layers present in a buildpack directory (sub-directories and `<name>.toml` files). */
async function layersIn(bpDir: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(bpDir, { withFileTypes: true });
  } catch {
    return [];
  }
  const names = new Set<string>();
  for (const e of entries) {
    if (e.isDirectory()) names.add(e.name);
    else if (e.name.endsWith(".toml") && !NOT_LAYERS.has(e.name)) names.add(e.name.slice(0, -5));
  }
  return [...names].sort();
}

async function legacySha(bpDir: string, name: string): Promise<string> {
  try {
    return (await readFile(join(bpDir, `${name}.sha`), "utf8")).trim();
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
      const escaped = escapeBuildpackId(bp.id);
      const bpDir = join(opts.layersDir, escaped);
      const from = join(sbomDir, kind, escaped);
      let layers;
      try {
        layers = await readdir(from, { withFileTypes: true });
        await readdir(bpDir);
      } catch {
        continue;
      }
      for (const layer of layers.filter((l) => l.isDirectory())) {
        for (const file of await readdir(join(from, layer.name))) {
          const m = SBOM_FILE.exec(file);
          if (m) await copyFile(join(from, layer.name, file), join(bpDir, `${layer.name}.sbom.${m[1]}.json`));
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
 * The restorer (contract §2.2 step 6, §5.6): store.toml, layer metadata from the app image and the
 * cache, cached layer contents when their SHA matches (extracted safely and concurrently), and SBOMs.
 */
export async function restore(opts: RestorerOptions): Promise<void> {
  await withTimer(opts.logger, "Restorer", async () => {
    const cacheMd = await cacheMetadataOf(opts);
    const limit = createLimiter(Math.max(2, availableParallelism()));
    const progress = opts.progress ?? new ProgressReporter(opts.logger);
    if (opts.skipLayers) opts.logger.info("Skipping buildpack layer analysis");
    // as Go: store.toml and layer metadata of every buildpack first, then the layers' data
    const remembered = new Map<string, Map<string, string>>();
    for (const bp of opts.group) {
      const bpDir = join(opts.layersDir, escapeBuildpackId(bp.id));
      const app = opts.appMetadata.buildpacks.find((b) => b.key === bp.id);
      if (app?.store) {
        await mkdir(bpDir, { recursive: true });
        await writeStoreToml(join(bpDir, "store.toml"), { metadata: app.store.metadata });
      }
      if (opts.skipLayers) continue;
      remembered.set(bp.id, await restoreLayerMetadata(opts, bp.id, bpDir, app, cacheMetadataForBuildpack(cacheMd, bp.id)));
    }
    const tasks: Promise<void>[] = [];
    for (const bp of opts.group) {
      const shas = remembered.get(bp.id);
      if (!shas) continue;
      const bpDir = join(opts.layersDir, escapeBuildpackId(bp.id));
      const cached = cacheMetadataForBuildpack(cacheMd, bp.id);
      for (const name of await layersIn(bpDir)) {
        const cachedLayer = cached.layers[name];
        if (!cachedLayer?.cache) continue;
        const sha = shas.get(name) ?? (await legacySha(bpDir, name));
        const id = `${bp.id}:${name}`;
        if (sha !== cachedLayer.sha) {
          opts.logger.info(`Removing ${goQuote(id)}, wrong sha`);
          await Promise.all([join(bpDir, name), join(bpDir, `${name}.sha`), join(bpDir, `${name}.toml`)].map((p) => rm(p, { recursive: true, force: true })));
          continue;
        }
        const cache = opts.cache;
        if (!cache) continue;
        opts.logger.info(`Restoring data for ${goQuote(id)} from cache`);
        tasks.push(
          limit.run(async () => {
            try {
              await cache.verifyLayer(sha);
              await watched(progress, cache, id, async (transfer) => extractLayer(await cache.retrieveLayer(sha, transfer), {
                allowedPrefix: join(bpDir, name),
                // links may point at other buildpacks' layers (venvs) but never out of the layers dir
                symlinkScope: opts.layersDir,
                expectedDiffID: sha,
                owner: opts.owner,
                // the layer's files keep the mtimes they were cached with (and their modes)
                restoreMtimes: true,
              }));
            } catch (err) {
              if (!isLayerReadError(err)) throw new Error(`restoring layer '${id}': ${errorMessage(err)}`, { cause: err });
              opts.logger.warn(`Skipping restore for layer ${id}: ${errorMessage(err)}`);
            }
          }),
        );
      }
    }
    const results = await Promise.allSettled(tasks);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw failed.reason;
    if (opts.features.sbomLayers && !opts.skipLayers) await restoreSbom(opts, cacheMd, limit, progress);
  });
}
