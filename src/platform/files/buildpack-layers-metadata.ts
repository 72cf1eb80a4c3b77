// Per-buildpack layer records shared by the lifecycle label (§4.2), the cache label (§5.2) and
// analyzed.toml (§3.1). The model uses the label's names; the TOML form renames `data` → `metadata`.
import { z } from "zod";
import { compact, goBool, goOptional, goString, goTable } from "./go-fields.js";
import { GoAny, GoMap, compareGoStrings } from "./go-json.js";
import type { GoJsonValue, GoStruct } from "./go-json.js";

/** A layer identified by its diffID (`{"sha": "sha256:…"}`). */
export const LayerShaSchema = z.object({ sha: goString });
/** A layer identified by its diffID. */
export type LayerSha = z.output<typeof LayerShaSchema>;

/** One buildpack layer in a label: diffID, `<layer>.toml` metadata (`data`) and type flags. */
export const BuildpackLayerMetadataSchema = z.object({
  sha: goString,
  data: z.unknown().optional(),
  build: goBool,
  launch: goBool,
  cache: goBool,
});
/** One buildpack layer in a label. */
export type BuildpackLayerMetadata = z.output<typeof BuildpackLayerMetadataSchema>;

/** The `store.toml` content carried in the label (`{"metadata": {...}}`). */
export const BuildpackStoreSchema = z.object({ metadata: goTable });
/** The `store.toml` content carried in the label. */
export type BuildpackStore = z.output<typeof BuildpackStoreSchema>;

/** One buildpack's layers in a label (`key` is the buildpack ID). */
export const BuildpackLayersMetadataSchema = z.object({
  key: goString,
  version: goString,
  layers: z
    .record(z.string(), BuildpackLayerMetadataSchema)
    .nullish()
    .transform((v) => v ?? {}),
  store: goOptional(BuildpackStoreSchema),
});
/** One buildpack's layers in a label. */
export type BuildpackLayersMetadata = z.output<typeof BuildpackLayersMetadataSchema>;

/** The TOML form of a buildpack layer (analyzed.toml): `metadata` instead of `data`. */
const BuildpackLayerTomlSchema = z
  .object({ sha: goString, metadata: z.unknown().optional(), build: goBool, launch: goBool, cache: goBool })
  .transform(({ metadata, ...rest }): BuildpackLayerMetadata => ({ ...rest, data: metadata }));

/** The TOML form of one buildpack's layers, decoded into the label model. */
export const BuildpackLayersTomlSchema = z.object({
  key: goString,
  version: goString,
  layers: z
    .record(z.string(), BuildpackLayerTomlSchema)
    .nullish()
    .transform((v) => v ?? {}),
  store: goOptional(z.object({ metadata: goTable })),
});

/** The Go JSON shape of a layer diffID record. */
export function layerShaToGoJson(layer: LayerSha): GoStruct {
  return { sha: layer.sha };
}

/** The Go JSON shape of one buildpack's layers (field order key, version, layers, store). */
export function buildpackLayersToGoJson(bp: BuildpackLayersMetadata): GoStruct {
  const layers: Record<string, GoJsonValue> = {};
  for (const [name, layer] of Object.entries(bp.layers)) {
    layers[name] = {
      sha: layer.sha,
      data: new GoAny(layer.data ?? null),
      build: layer.build,
      launch: layer.launch,
      cache: layer.cache,
    };
  }
  return {
    key: bp.key,
    version: bp.version,
    layers: new GoMap(layers),
    store: bp.store ? { metadata: new GoAny(bp.store.metadata) } : undefined,
  };
}

/** The TOML table of one buildpack's layers (layer names sorted, `data` written as `metadata`). */
export function buildpackLayersToToml(bp: BuildpackLayersMetadata): Record<string, unknown> {
  const layers: Record<string, unknown> = {};
  for (const name of Object.keys(bp.layers).sort(compareGoStrings)) {
    const layer = bp.layers[name];
    if (!layer) continue;
    layers[name] = compact({
      sha: layer.sha,
      metadata: layer.data ?? undefined,
      build: layer.build,
      launch: layer.launch,
      cache: layer.cache,
    });
  }
  return compact({
    key: bp.key,
    version: bp.version,
    layers,
    store: bp.store ? { metadata: bp.store.metadata } : undefined,
  });
}
