// The `io.buildpacks.lifecycle.metadata` label (contract §4.2): model, parser and Go-identical writer.
import { z } from "zod";
import {
  BuildpackLayersMetadataSchema,
  LayerShaSchema,
  buildpackLayersToGoJson,
  layerShaToGoJson,
} from "./buildpack-layers-metadata.js";
import { goList, goOptional, goString, goStruct, optString, optStringList } from "./go-fields.js";
import { GoAny, goJsonMarshal } from "./go-json.js";
import type { GoJsonValue, GoStruct } from "./go-json.js";
import { exceedsJsonDepth, MAX_METADATA_DEPTH } from "./json-depth.js";
import { describeZodError } from "./zod-issues.js";

/** Name of the label holding the lifecycle metadata. */
export const LIFECYCLE_METADATA_LABEL = "io.buildpacks.lifecycle.metadata";

/** A run image as named in run.toml/stack.toml: primary `image` plus `mirrors` (both omitted when empty). */
export const RunImageNamesSchema = z.object({ image: optString, mirrors: optStringList });
/** A run image as named in run.toml/stack.toml. */
export type RunImageNames = z.output<typeof RunImageNamesSchema>;

/** `runImage` in the label: top layer diffID, the reference used, and the run.toml entry (API ≥0.12). */
export const RunImageForRebaseSchema = z.object({
  topLayer: goString,
  reference: goString,
  image: optString,
  mirrors: optStringList,
});
/** `runImage` in the label. */
export type RunImageForRebase = z.output<typeof RunImageForRebaseSchema>;

/** `stack` in the label: `{"runImage": {"image": …, "mirrors": […]}}`. */
export const StackMetadataSchema = z.object({ runImage: goStruct(RunImageNamesSchema) });
/** `stack` in the label. */
export type StackMetadata = z.output<typeof StackMetadataSchema>;

function lifecycleMetadataSchema<A extends z.ZodType>(app: A) {
  return z
    .object({
      app,
      sbom: goOptional(LayerShaSchema),
      buildpacks: goList(BuildpackLayersMetadataSchema),
      config: goStruct(LayerShaSchema),
      launcher: goStruct(LayerShaSchema),
      "process-types": goStruct(LayerShaSchema),
      runImage: goStruct(RunImageForRebaseSchema),
      stack: goOptional(StackMetadataSchema),
    })
    .transform(({ "process-types": processTypes, ...rest }) => ({ ...rest, processTypes }));
}

/** The label as the analyzer reads it: `app` must be a list (a single object makes the label undecodable). */
export const LifecycleMetadataSchema = lifecycleMetadataSchema(goList(LayerShaSchema));
/** The lifecycle metadata model (label key names, except `process-types` → `processTypes`). */
export type LifecycleMetadata = z.output<typeof LifecycleMetadataSchema>;

/** The label as the rebaser reads it: `app` is kept verbatim whatever its shape. */
export const LifecycleMetadataCompatSchema = lifecycleMetadataSchema(z.unknown().optional());
/** The lifecycle metadata with `app` of unknown shape (pre-slice images). */
export type LifecycleMetadataCompat = z.output<typeof LifecycleMetadataCompatSchema>;

/** A label value that is not JSON or does not have the expected shape. */
export class LabelParseError extends Error {
  constructor(
    readonly label: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "LabelParseError";
  }
}

/** Parses a JSON label value against `schema`, throwing a one-line {@link LabelParseError}. */
export function parseJsonLabel<S extends z.ZodType>(label: string, json: string, schema: S): z.output<S> {
  if (exceedsJsonDepth(json)) {
    throw new LabelParseError(label, `failed to parse label ${label}: exceeded max depth (${MAX_METADATA_DEPTH} levels of nesting)`);
  }
  let data: unknown;
  try {
    data = JSON.parse(json);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new LabelParseError(label, `failed to parse label ${label}: invalid JSON: ${reason}`, { cause: err });
  }
  const result = schema.safeParse(data, { reportInput: true });
  if (!result.success) {
    const reason = describeZodError(result.error, "object");
    throw new LabelParseError(label, `failed to parse label ${label}: ${reason}`, { cause: result.error });
  }
  return result.data;
}

/** Parses the lifecycle metadata label strictly (as Go's analyzer does); throws {@link LabelParseError}. */
export function parseLifecycleMetadataLabel(json: string): LifecycleMetadata {
  return parseJsonLabel(LIFECYCLE_METADATA_LABEL, json, LifecycleMetadataSchema);
}

/** Parses the lifecycle metadata label keeping `app` verbatim (as Go's rebaser does). */
export function parseLifecycleMetadataLabelCompat(json: string): LifecycleMetadataCompat {
  return parseJsonLabel(LIFECYCLE_METADATA_LABEL, json, LifecycleMetadataCompatSchema);
}

/** Metadata with every field at its zero value (what Go uses when there is no previous image). */
export function emptyLifecycleMetadata(): LifecycleMetadata {
  return {
    app: [],
    buildpacks: [],
    config: { sha: "" },
    launcher: { sha: "" },
    processTypes: { sha: "" },
    runImage: { topLayer: "", reference: "" },
  };
}

/** The Go JSON shape of a run.toml-style image entry (`image`, `mirrors`, both `omitempty`). */
export function runImageNamesToGoJson(names: RunImageNames): GoStruct {
  return { image: names.image || undefined, mirrors: names.mirrors?.length ? names.mirrors : undefined };
}

function appToGoJson(app: unknown): GoJsonValue {
  // A list of exactly `{"sha": "…"}` objects encodes the same either way; anything else (the
  // compat model's pre-slice shapes) is written back verbatim like Go's `interface{}`.
  const isShaList =
    Array.isArray(app) &&
    app.every((el: unknown) => {
      if (typeof el !== "object" || el === null || Array.isArray(el)) return false;
      const keys = Object.keys(el);
      return keys.length === 1 && keys[0] === "sha" && typeof (el as { sha: unknown }).sha === "string";
    });
  if (!isShaList) return new GoAny(app);
  return (app as { sha: string }[]).map((el) => ({ sha: el.sha }));
}

/** The Go JSON shape of the whole label, fields in Go's declaration order. */
export function lifecycleMetadataToGoJson(md: LifecycleMetadata | LifecycleMetadataCompat): GoStruct {
  return {
    app: appToGoJson(md.app),
    sbom: md.sbom ? layerShaToGoJson(md.sbom) : undefined,
    buildpacks: md.buildpacks.map(buildpackLayersToGoJson),
    config: layerShaToGoJson(md.config),
    launcher: layerShaToGoJson(md.launcher),
    "process-types": layerShaToGoJson(md.processTypes),
    runImage: {
      topLayer: md.runImage.topLayer,
      reference: md.runImage.reference,
      ...runImageNamesToGoJson(md.runImage),
    },
    stack: md.stack ? { runImage: runImageNamesToGoJson(md.stack.runImage) } : undefined,
  };
}

/** Serialises the lifecycle metadata label exactly as the Go exporter/rebaser would. */
export function lifecycleMetadataToLabel(md: LifecycleMetadata | LifecycleMetadataCompat): string {
  return goJsonMarshal(lifecycleMetadataToGoJson(md));
}
