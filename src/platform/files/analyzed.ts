// analyzed.toml (contract §3.1): written by the analyzer, rewritten by the restorer, read by the exporter.
import { z } from "zod";
import { compact, goBool, goOptional, goString, goStruct, optString } from "./go-fields.js";
import { LifecycleMetadataTomlSchema, lifecycleMetadataToToml } from "./lifecycle-metadata-toml.js";
import { parseToml, readOptionalToml, readToml, stringifyToml, writeToml } from "./toml-io.js";

/** `[image]` / `[build-image]`: an image reference (the previous image's may be ""). */
export const ImageIdentifierSchema = z.object({ reference: goString });
/** An image reference recorded in analyzed.toml. */
export type ImageIdentifier = z.output<typeof ImageIdentifierSchema>;

/** `[run-image.target.distro]`. */
export const OsDistroSchema = z.object({ name: goString, version: goString });
/** The OS distribution of a base image. */
export type OsDistro = z.output<typeof OsDistroSchema>;

/** `[run-image.target]` (API ≥0.12); the model renames `arch-variant` → `archVariant`. */
export const TargetMetadataSchema = z
  .object({
    id: optString,
    os: goString,
    arch: goString,
    "arch-variant": optString,
    distro: goOptional(OsDistroSchema),
  })
  .transform(({ "arch-variant": archVariant, ...rest }) => ({
    ...rest,
    ...(archVariant !== undefined ? { archVariant } : {}),
  }));
/** The run image's target (os/arch/variant/distro and base ID). */
export type TargetMetadata = z.output<typeof TargetMetadataSchema>;

/** `[run-image]`: the reference used, the name as given/selected, whether to extend it, its target. */
export const AnalyzedRunImageSchema = z.object({
  reference: goString,
  image: optString,
  extend: goBool,
  target: goOptional(TargetMetadataSchema),
});
/** The run image recorded in analyzed.toml. */
export type AnalyzedRunImage = z.output<typeof AnalyzedRunImageSchema>;

/** The whole file; the model names `[image]` `previousImage` and uses camelCase for the other tables. */
export const AnalyzedSchema = z
  .object({
    image: goOptional(ImageIdentifierSchema),
    "build-image": goOptional(ImageIdentifierSchema),
    metadata: goStruct(LifecycleMetadataTomlSchema),
    "run-image": goOptional(AnalyzedRunImageSchema),
  })
  .transform((raw) => ({
    ...(raw.image ? { previousImage: raw.image } : {}),
    ...(raw["build-image"] ? { buildImage: raw["build-image"] } : {}),
    metadata: raw.metadata,
    ...(raw["run-image"] ? { runImage: raw["run-image"] } : {}),
  }));
/** The content of analyzed.toml. */
export type Analyzed = z.output<typeof AnalyzedSchema>;

function targetToToml(t: TargetMetadata): Record<string, unknown> {
  return compact({
    id: t.id || undefined,
    os: t.os,
    arch: t.arch,
    "arch-variant": t.archVariant || undefined,
    distro: t.distro ? { name: t.distro.name, version: t.distro.version } : undefined,
  });
}

/** The TOML table for the model: empty optional fields are omitted as Go's `omitempty` does. */
export function analyzedToToml(a: Analyzed): Record<string, unknown> {
  const run = a.runImage;
  return compact({
    image: a.previousImage ? { reference: a.previousImage.reference } : undefined,
    "build-image": a.buildImage ? { reference: a.buildImage.reference } : undefined,
    metadata: lifecycleMetadataToToml(a.metadata),
    "run-image": run
      ? compact({
          reference: run.reference,
          image: run.image || undefined,
          extend: run.extend || undefined,
          target: run.target ? targetToToml(run.target) : undefined,
        })
      : undefined,
  });
}

/**
 * Serialises analyzed.toml. Numbers in layer metadata are written as floats, as Go does for
 * values that came from the JSON label.
 */
export function stringifyAnalyzed(a: Analyzed): string {
  return stringifyToml(analyzedToToml(a), { numbersAsFloat: true });
}

/** Parses analyzed.toml text (`path` names the file in errors). */
export function parseAnalyzed(text: string, path: string): Analyzed {
  return parseToml(text, AnalyzedSchema, path);
}

/** Reads analyzed.toml; throws PlatformFileError (code `ENOENT` when missing). */
export async function readAnalyzed(path: string): Promise<Analyzed> {
  return readToml(path, AnalyzedSchema);
}

/** Reads analyzed.toml, or undefined when the file does not exist. */
export async function readAnalyzedIfExists(path: string): Promise<Analyzed | undefined> {
  return readOptionalToml(path, AnalyzedSchema);
}

/** Writes analyzed.toml atomically. */
export async function writeAnalyzed(path: string, a: Analyzed): Promise<void> {
  await writeToml(path, analyzedToToml(a), { numbersAsFloat: true });
}
