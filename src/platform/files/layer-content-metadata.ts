// `<layers>/<bp>/<layer>.toml` (contract §3.8): layer types and buildpack-defined metadata.
import { z } from "zod";
import { goBool, goStruct } from "./go-fields.js";
import { parseTomlText, readTextFile, isMissingFileError, validateToml, stringifyToml, writeToml } from "./toml-io.js";

/** `[types]`: whether the layer is exported (launch), visible to later buildpacks (build), cached. */
export const LayerTypesSchema = z.object({ launch: goBool, build: goBool, cache: goBool });
/** The `[types]` flags of a layer. */
export type LayerTypes = z.output<typeof LayerTypesSchema>;

/** The well-formed file: `[types]` flags and the `[metadata]` value (undefined when absent). */
export const LayerContentMetadataSchema = z.object({ types: goStruct(LayerTypesSchema), metadata: z.unknown().optional() });
/** A well-formed `<layer>.toml`. */
export type LayerContentMetadata = z.output<typeof LayerContentMetadataSchema>;

/** Reading a `<layer>.toml`: its content, or the reason the layer is malformed. */
export type LayerContentReadResult =
  | { malformed: false; value: LayerContentMetadata }
  | { malformed: true; message: string };

const TYPE_FLAGS = ["launch", "build", "cache"] as const;

/**
 * Interprets `<layer>.toml` text. Flags at the top level instead of in `[types]` make the layer
 * malformed (Go's message); so does any syntax or type error, as in Go where every read error
 * marks the layer malformed.
 */
export function parseLayerContentMetadata(text: string, path: string): LayerContentReadResult {
  let raw: Record<string, unknown>;
  let value: LayerContentMetadata;
  try {
    raw = parseTomlText(text, path);
    value = validateToml(raw, LayerContentMetadataSchema, path);
  } catch (err) {
    return { malformed: true, message: err instanceof Error ? err.message : String(err) };
  }
  if (TYPE_FLAGS.some((flag) => flag in raw)) {
    return {
      malformed: true,
      message: `the launch, cache and build flags should be in the types table of ${path}`,
    };
  }
  return { malformed: false, value };
}

/** Reads `<layer>.toml`; a missing file means all flags false and no metadata. */
export async function readLayerContentMetadata(path: string): Promise<LayerContentReadResult> {
  let text: string;
  try {
    text = await readTextFile(path);
  } catch (err) {
    if (isMissingFileError(err)) {
      return { malformed: false, value: { types: { launch: false, build: false, cache: false }, metadata: undefined } };
    }
    return { malformed: true, message: err instanceof Error ? err.message : String(err) };
  }
  return parseLayerContentMetadata(text, path);
}

/** The restorer's `<layer>.toml`: only the `[metadata]` table, never `[types]`. */
export function stringifyRestoredLayerMetadata(metadata: unknown): string {
  return stringifyToml(restoredTable(metadata), { numbersAsFloat: true });
}

function restoredTable(metadata: unknown): Record<string, unknown> {
  return metadata === undefined || metadata === null ? {} : { metadata };
}

/**
 * Writes `<layer>.toml` as the restorer does: only `[metadata]`, so the buildpack must set the
 * types again. Numbers are written as floats, like Go for data that came from a label.
 */
export async function writeRestoredLayerMetadata(path: string, metadata: unknown): Promise<void> {
  await writeToml(path, restoredTable(metadata), { numbersAsFloat: true });
}
