// The `io.buildpacks.lifecycle.cache.metadata` label / volume-cache metadata (contract §5.2).
import { z } from "zod";
import {
  BuildpackLayersMetadataSchema,
  LayerShaSchema,
  buildpackLayersToGoJson,
} from "./buildpack-layers-metadata.js";
import type { BuildpackLayersMetadata } from "./buildpack-layers-metadata.js";
import { goList, goStruct } from "./go-fields.js";
import { goJsonMarshal } from "./go-json.js";
import { exceedsJsonDepth } from "./json-depth.js";

/** Name of the label (and metadata key) holding the cache metadata. */
export const CACHE_METADATA_LABEL = "io.buildpacks.lifecycle.cache.metadata";

/** The cache metadata: the cache SBOM layer (sha "" when none) and one entry per group buildpack. */
export const CacheMetadataSchema = z.object({
  sbom: goStruct(LayerShaSchema),
  buildpacks: goList(BuildpackLayersMetadataSchema),
});
/** The cache metadata. */
export type CacheMetadata = z.output<typeof CacheMetadataSchema>;

/** Metadata of an empty cache. */
export function emptyCacheMetadata(): CacheMetadata {
  return { sbom: { sha: "" }, buildpacks: [] };
}

/**
 * Parses the cache metadata leniently: absent, non-JSON, mis-shaped or too deeply nested data
 * gives empty metadata.
 */
export function parseCacheMetadataLenient(json: string | undefined): CacheMetadata {
  if (json === undefined || json.trim() === "" || exceedsJsonDepth(json)) return emptyCacheMetadata();
  let data: unknown;
  try {
    data = JSON.parse(json);
  } catch {
    return emptyCacheMetadata();
  }
  const result = CacheMetadataSchema.safeParse(data);
  return result.success ? result.data : emptyCacheMetadata();
}

/** The cached layers of one buildpack, or an entry without layers when it has none. */
export function cacheMetadataForBuildpack(md: CacheMetadata, id: string): BuildpackLayersMetadata {
  return md.buildpacks.find((bp) => bp.key === id) ?? { key: "", version: "", layers: {} };
}

/** Serialises the cache metadata like Go (`sbom` always present, no `store`). */
export function cacheMetadataToLabel(md: CacheMetadata): string {
  return goJsonMarshal({
    sbom: { sha: md.sbom.sha },
    buildpacks: md.buildpacks.map((bp) => buildpackLayersToGoJson({ ...bp, store: undefined })),
  });
}
