import { join } from "node:path";
import type { StoredImage } from "../image/store.js";
import { uncompressedWithProgress } from "../image/layer-progress.js";
import { extractLayer } from "../layers/extract.js";
import { goQuote } from "../log/go-quote.js";
import type { Logger } from "../log/logger.js";
import { layerSubject, ProgressReporter } from "../log/progress.js";
import { withTimer } from "../log/timer.js";
import { errorMessage } from "../platform/errors.js";
import type { Analyzed, TargetMetadata } from "../platform/files/analyzed.js";
import {
  emptyLifecycleMetadata,
  LIFECYCLE_METADATA_LABEL,
  parseLifecycleMetadataLabel,
  type LifecycleMetadata,
} from "../platform/files/lifecycle-metadata.js";
import type { PlatformFeatures } from "../platform/features.js";
import { skippedLayerWarning, usableLayers } from "../platform/files/layer-names.js";
import type { ImageConfig } from "../image/types.js";

/** An image to analyze, with the name it was given as. */
export interface NamedImage {
  readonly name: string;
  readonly image: StoredImage;
  /** What logs call it (default `name`; Go shows an OCI layout image by its layout path). */
  readonly display?: string;
}

/** Inputs of {@link analyze}: everything resolved, no argv or environment. */
export interface AnalyzerOptions {
  readonly features: PlatformFeatures;
  readonly logger: Logger;
  readonly layersDir: string;
  readonly skipLayers: boolean;
  readonly previousImage?: NamedImage;
  readonly runImage?: NamedImage;
  /** Progress lines for a long SBOM layer download (default: on the phase's logger). */
  readonly progress?: ProgressReporter;
}

/** The label keys the run image's target comes from. */
const BASE_ID = "io.buildpacks.base.id";
const DISTRO_NAME = "io.buildpacks.base.distro.name";
const DISTRO_VERSION = "io.buildpacks.base.distro.version";

/** The run image target recorded in analyzed.toml (contract §3.1), from its config and labels. */
export function targetFromConfig(config: ImageConfig): TargetMetadata {
  const labels = config.config?.Labels ?? {};
  const os = config.os ?? "";
  if (os === "") throw new Error("failed to find OS in run image config");
  const name = labels[DISTRO_NAME];
  const version = labels[DISTRO_VERSION];
  return {
    ...(labels[BASE_ID] ? { id: labels[BASE_ID] } : {}),
    os,
    arch: config.architecture ?? "",
    ...(config.variant ? { archVariant: config.variant } : {}),
    ...(name !== undefined || version !== undefined ? { distro: { name: name ?? "", version: version ?? "" } } : {}),
  };
}

interface PreviousAnalysis {
  readonly reference: string;
  readonly metadata: LifecycleMetadata;
}

async function analyzePrevious(opts: AnalyzerOptions): Promise<PreviousAnalysis> {
  const prev = opts.previousImage;
  const none = { reference: "", metadata: emptyLifecycleMetadata() };
  if (!prev) return none;
  if (!(await prev.image.exists())) {
    opts.logger.info(`Image with name ${goQuote(prev.display ?? prev.name)} not found`);
    return none;
  }
  let reference: string;
  let labels: Record<string, string>;
  try {
    reference = await prev.image.identifier();
    labels = (await prev.image.config()).config.config?.Labels ?? {};
  } catch (err) {
    opts.logger.info(`Ignoring image ${goQuote(prev.display ?? prev.name)} because it was corrupt`);
    opts.logger.debug(`Previous image "${prev.name}": ${errorMessage(err)}`);
    return none;
  }
  const label = labels[LIFECYCLE_METADATA_LABEL];
  if (label === undefined || label === "") return { reference, metadata: emptyLifecycleMetadata() };
  let metadata: LifecycleMetadata;
  try {
    metadata = parseLifecycleMetadataLabel(label);
  } catch (err) {
    // Go: a label that cannot be decoded makes the image count as corrupt (no reference, no metadata)
    opts.logger.info(`Ignoring image "${prev.name}" because it was corrupt`);
    opts.logger.debug(`Previous image "${prev.name}": ${errorMessage(err)}`);
    return none;
  }
  return { reference, metadata: withUsableLayerNames(metadata, opts.logger) };
}

/** The label's buildpack layers whose names can become paths; the others are dropped with a warning. */
function withUsableLayerNames(md: LifecycleMetadata, logger: Logger): LifecycleMetadata {
  const buildpacks = md.buildpacks.map((bp) => ({
    ...bp,
    layers: usableLayers(bp.layers, (name, problem) => logger.warn(skippedLayerWarning(bp.key, name, "the previous image metadata", problem))),
  }));
  return { ...md, buildpacks };
}

async function restoreSbom(opts: AnalyzerOptions, sha: string): Promise<void> {
  const prev = opts.previousImage;
  if (!prev) return;
  opts.logger.info("Restoring data for SBOM from previous image");
  const layer = (await prev.image.layers()).find((l) => l.diffId === sha);
  if (!layer) throw new Error(`failed to get previous image SBOM layer: image has no layer with diffID ${sha}`);
  const progress = opts.progress ?? new ProgressReporter(opts.logger);
  const transfer = progress.start("Downloading", layerSubject("buildpacksio/lifecycle:launch.sbom"));
  try {
    await extractLayer(await uncompressedWithProgress(layer, transfer), {
      allowedPrefix: join(opts.layersDir, "sbom"),
      expectedDiffID: sha,
    });
  } finally {
    transfer.end();
  }
}

/**
 * The analyzer (contract §2.1 step 6): reads the previous image's reference and lifecycle metadata,
 * restores its SBOM layer, and records the run image's reference and target.
 */
export async function analyze(opts: AnalyzerOptions): Promise<Analyzed> {
  return withTimer(opts.logger, "Analyzer", async () => {
    const previous = await analyzePrevious(opts);
    const sbomSha = previous.metadata.sbom?.sha ?? "";
    if (opts.features.sbomLayers && !opts.skipLayers && sbomSha !== "") await restoreSbom(opts, sbomSha);

    let runImage: Analyzed["runImage"];
    const run = opts.runImage;
    if (run) {
      const exists = await run.image.exists();
      if (!exists) opts.logger.info(`Image with name ${goQuote(run.display ?? run.name)} not found`);
      const reference = exists ? await run.image.identifier() : "";
      if (opts.features.recordsRunImageTarget) {
        const target = exists ? targetFromConfig((await run.image.config()).config) : undefined;
        runImage = { reference, image: run.name, extend: false, ...(target ? { target } : {}) };
      } else {
        runImage = { reference, extend: false };
      }
    }
    return {
      previousImage: { reference: previous.reference },
      metadata: previous.metadata,
      ...(runImage ? { runImage } : {}),
    };
  });
}
