import { stat } from "node:fs/promises";
import { join } from "node:path";
import type { Cache } from "../../cache/cache.js";
import { directoryLayerSource } from "../../layers/directory-layer.js";
import type { LayerSource, Owner } from "../../layers/layer-source.js";
import type { Logger } from "../../log/logger.js";
import { errorMessage } from "../../platform/errors.js";
import type { BuildpackLayersMetadata } from "../../platform/files/buildpack-layers-metadata.js";
import { cacheMetadataForBuildpack, cacheMetadataToLabel, emptyCacheMetadata, type CacheMetadata } from "../../platform/files/cache-metadata.js";
import type { GroupElement } from "../../platform/files/group.js";
import type { PlatformFeatures } from "../../platform/features.js";
import { isCacheReadError } from "../../cache/volume-errors.js";
import type { RecordLookup } from "../../restore-record/lookup.js";
import { findBuildpackLayers } from "./buildpack-layers.js";
import type { LayerFactory, MadeLayer } from "./layer-factory.js";

/** Inputs of {@link exportCache}. */
export interface CacheExportOptions {
  readonly features: PlatformFeatures;
  readonly logger: Logger;
  readonly layersDir: string;
  readonly group: readonly GroupElement[];
  readonly cache: Cache;
  readonly factory: LayerFactory;
  readonly owner: Owner;
  /** The restore record: diffIDs known without reading, cache tars the restorer verified in this build. */
  readonly record?: RecordLookup;
}

/**
 * Caches one layer: reused from the previous cache when its diffID is unchanged (each layer
 * appears once; unlike Go it is not added again after a reuse), else added, built at most once in
 * this run (the export step's blob and tar are shared).
 */
async function cacheLayer(opts: CacheExportOptions, id: string, source: LayerSource, oldSha: string): Promise<string> {
  const { cache, factory, logger } = opts;
  const exported = factory.existing(id);
  let made: MadeLayer | undefined = exported ? await exported : undefined;
  const diffId = made?.diffId ?? (await factory.diffId(source, id));
  if (diffId === oldSha) {
    try {
      const file = cache.committedLayerPath?.(diffId);
      if (!file || !(await opts.record?.vouchesForCacheFile(id, diffId, file))) await cache.verifyLayer(diffId);
      await cache.reuseLayer(diffId);
      logger.info(`Reusing cache layer '${id}'`);
      return diffId;
    } catch (err) {
      if (!isCacheReadError(err)) throw err;
      logger.warn(`Skipping reuse for layer ${id}: ${errorMessage(err)}`);
    }
  }
  const needTar = cache.kind === "volume";
  if (!made || made.reused || (needTar && !factory.tarOf(id))) made = await factory.build(`${id}#cache`, source, needTar);
  logger.info(`Adding cache layer '${id}'`);
  await cache.addLayer({ id, diffId: made.diffId, layer: made.layer, tarPath: factory.tarOf(id) ?? factory.tarOf(`${id}#cache`) });
  return made.diffId;
}

/**
 * The exporter's cache step (contract §5.7): every `cache = true` layer with contents (group order,
 * then name) and the cache SBOM layer, then the metadata, then an atomic commit. Per-layer problems
 * are warnings; the caller reports any other failure as `Failed to export cache` (exit code 0).
 */
export async function exportCache(opts: CacheExportOptions): Promise<void> {
  try {
    await exportCacheLayers(opts);
  } finally {
    // a failed step must not keep the cache locked until the process exits
    await opts.cache.close();
    for (const notice of opts.cache.takeNotices()) opts.logger.warn(notice);
  }
}

async function exportCacheLayers(opts: CacheExportOptions): Promise<void> {
  const { cache, logger } = opts;
  for (const notice of cache.takeNotices()) logger.warn(notice);
  let old: CacheMetadata = emptyCacheMetadata();
  if (await cache.exists()) old = await cache.metadata();
  else logger.info("Layer cache not found");
  const next: CacheMetadata = { sbom: { sha: "" }, buildpacks: [] };
  for (const bp of opts.group) {
    const entry: BuildpackLayersMetadata = { key: bp.id, version: bp.version, layers: {} };
    const oldBp = cacheMetadataForBuildpack(old, bp.id);
    for (const found of await findBuildpackLayers(opts.layersDir, bp.id)) {
      if (found.content.malformed) {
        // Go's cache step passes over a layer whose metadata it cannot read without a word
        logger.debug(`Not caching layer '${found.id}': ${found.content.message}`);
        continue;
      }
      const { types, metadata } = found.content.value;
      if (!types.cache) continue;
      if (!found.dir) {
        logger.warn(`Failed to cache layer '${found.id}' because it has no contents`);
        continue;
      }
      try {
        const sha = await cacheLayer(opts, found.id, directoryLayerSource(found.dir, opts.owner), oldBp.layers[found.name]?.sha ?? "");
        entry.layers[found.name] = { sha, data: metadata ?? null, build: types.build, launch: types.launch, cache: types.cache };
      } catch (err) {
        logger.warn(`Failed to cache layer '${found.id}': ${errorMessage(err)}`);
      }
    }
    next.buildpacks.push(entry);
  }
  const sbomDir = join(opts.layersDir, "sbom", "cache");
  if (opts.features.sbomLayers && (await stat(sbomDir).then(() => true, () => false))) {
    next.sbom = { sha: await cacheLayer(opts, "buildpacksio/lifecycle:cache.sbom", directoryLayerSource(sbomDir, opts.owner), old.sbom.sha) };
  }
  await cache.setMetadata(next, cacheMetadataToLabel(next));
  await cache.commit();
}
