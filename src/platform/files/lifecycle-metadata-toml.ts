// The TOML form of the lifecycle metadata, as stored under `[metadata]` in analyzed.toml (§3.1).
// Key translation from the label: runImage → run-image, topLayer → top-layer, per-layer data →
// metadata, stack.runImage → stack.run-image; every other key keeps its name.
import { z } from "zod";
import {
  BuildpackLayersTomlSchema,
  LayerShaSchema,
  buildpackLayersToToml,
} from "./buildpack-layers-metadata.js";
import { compact, goList, goOptional, goString, goStruct, optString, optStringList } from "./go-fields.js";
import { RunImageNamesSchema } from "./lifecycle-metadata.js";
import type { LifecycleMetadata, RunImageForRebase, RunImageNames, StackMetadata } from "./lifecycle-metadata.js";

const RunImageForRebaseTomlSchema = z
  .object({ "top-layer": goString, reference: goString, image: optString, mirrors: optStringList })
  .transform(({ "top-layer": topLayer, ...rest }): RunImageForRebase => ({ topLayer, ...rest }));

const StackTomlSchema = z
  .object({ "run-image": goStruct(RunImageNamesSchema) })
  .transform((s): StackMetadata => ({ runImage: s["run-image"] }));

/** Validates the TOML form of the lifecycle metadata and converts it to the label model. */
export const LifecycleMetadataTomlSchema = z
  .object({
    app: goList(LayerShaSchema),
    sbom: goOptional(LayerShaSchema),
    buildpacks: goList(BuildpackLayersTomlSchema),
    config: goStruct(LayerShaSchema),
    launcher: goStruct(LayerShaSchema),
    "process-types": goStruct(LayerShaSchema),
    "run-image": goStruct(RunImageForRebaseTomlSchema),
    stack: goOptional(StackTomlSchema),
  })
  .transform(
    (raw): LifecycleMetadata => ({
      app: raw.app,
      ...(raw.sbom ? { sbom: raw.sbom } : {}),
      buildpacks: raw.buildpacks,
      config: raw.config,
      launcher: raw.launcher,
      processTypes: raw["process-types"],
      runImage: raw["run-image"],
      ...(raw.stack ? { stack: raw.stack } : {}),
    }),
  );

function runImageNamesToToml(names: RunImageNames): Record<string, unknown> {
  return compact({ image: names.image || undefined, mirrors: names.mirrors?.length ? names.mirrors : undefined });
}

/** Converts the metadata model to its TOML table (key order as Go's struct). */
export function lifecycleMetadataToToml(md: LifecycleMetadata): Record<string, unknown> {
  return compact({
    app: md.app.map((l) => ({ sha: l.sha })),
    sbom: md.sbom ? { sha: md.sbom.sha } : undefined,
    buildpacks: md.buildpacks.map(buildpackLayersToToml),
    config: { sha: md.config.sha },
    launcher: { sha: md.launcher.sha },
    "process-types": { sha: md.processTypes.sha },
    "run-image": {
      "top-layer": md.runImage.topLayer,
      reference: md.runImage.reference,
      ...runImageNamesToToml(md.runImage),
    },
    stack: md.stack ? { "run-image": runImageNamesToToml(md.stack.runImage) } : undefined,
  });
}

/** Converts a decoded `[metadata]` table to the label model; throws a zod error when mis-shaped. */
export function lifecycleMetadataFromToml(raw: unknown): LifecycleMetadata {
  return LifecycleMetadataTomlSchema.parse(raw ?? {});
}
