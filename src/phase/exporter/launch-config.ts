import type { MutableImage } from "../../image/mutable-image.js";
import type { History, ImageConfig } from "../../image/types.js";
import type { Logger } from "../../log/logger.js";
import type { PlatformFeatures } from "../../platform/features.js";
import type { BuildMetadata } from "../../platform/files/build-metadata.js";
import { NORMALIZED_TIME } from "../../oci/normalized-time.js";


/** The image creation time: `SOURCE_DATE_EPOCH` (API 0.9+) or the fixed time (contract §4.4). */
export function createdTime(env: NodeJS.ProcessEnv, features: PlatformFeatures, logger: Logger): string {
  const raw = env.SOURCE_DATE_EPOCH ?? "";
  if (!features.sourceDateEpoch || raw === "") return NORMALIZED_TIME;
  // Go's strconv.ParseInt(raw, 10, 64): an optional sign and digits, nothing around them
  const date = /^[+-]?\d+$/.test(raw) ? new Date(Number(raw) * 1000) : undefined;
  if (!date || Number.isNaN(date.getTime())) {
    logger.warn("Ignoring invalid SOURCE_DATE_EPOCH");
    return NORMALIZED_TIME;
  }
  return date.toISOString().replace(/\.000Z$/, "Z");
}

/** A process type's entrypoint path. */
export function processEntrypoint(type: string): string {
  return `/cnb/process/${type}`;
}

/** An export failure with the Go lifecycle's wording (exit 62 at the phase level). */
export class LaunchConfigError extends Error {
  override name = "LaunchConfigError";
}

/** The entrypoint (contract §4.4): `-process-type`, else the buildpack default, else the launcher. */
export function entrypoint(metadata: BuildMetadata, processType: string, logger: Logger): string {
  if (processType !== "") {
    if (!metadata.processes.some((p) => p.type === processType)) {
      throw new LaunchConfigError(`tried to set ${processType} to default but it doesn't exist`);
    }
    logger.info(`Setting default process type '${processType}'`);
    return processEntrypoint(processType);
  }
  const def = metadata.buildpackDefaultProcessType ?? "";
  if (def !== "") {
    logger.info(`Setting default process type '${def}'`);
    return processEntrypoint(def);
  }
  logger.info("no default process type");
  return "/cnb/lifecycle/launcher";
}

/** Options of {@link applyLaunchConfig}. */
export interface LaunchConfigOptions {
  readonly layersDir: string;
  readonly appDir: string;
  readonly api: string;
  readonly entrypoint: string;
  readonly created: string;
}

/**
 * Env, entrypoint, working dir and creation time of the app image (contract §4.4): run image PATH
 * prefixed with `/cnb/process:/cnb/lifecycle:`, `CNB_*` variables the launcher needs, Cmd cleared,
 * User untouched.
 */
export function applyLaunchConfig(image: MutableImage, opts: LaunchConfigOptions): void {
  const runPath = image.env("PATH");
  image.setEnv("CNB_LAYERS_DIR", opts.layersDir);
  image.setEnv("CNB_APP_DIR", opts.appDir);
  image.setEnv("CNB_PLATFORM_API", opts.api);
  image.setEnv("CNB_DEPRECATION_MODE", "quiet");
  image.setEnv("PATH", `/cnb/process:/cnb/lifecycle:${runPath ?? ""}`);
  const config = image.editableConfig;
  const c = (config.config ??= {});
  c.Entrypoint = [opts.entrypoint];
  delete c.Cmd;
  c.WorkingDir = opts.appDir;
  config.created = opts.created;
  delete (config as Record<string, unknown>).container;
}

/**
 * The base image's history for an app image (API 0.12+): entries of empty layers dropped, blank
 * entries when it does not match the base layers, every entry's `created` set to `created`.
 * Below 0.12 every entry is just `{created}`.
 */
export function baseHistory(base: ImageConfig, baseLayerCount: number, created: string, keepHistory: boolean): History[] {
  if (!keepHistory) return Array.from({ length: baseLayerCount }, () => ({ created }));
  const entries = (base.history ?? []).filter((h) => !h.empty_layer);
  if (entries.length !== baseLayerCount) return Array.from({ length: baseLayerCount }, () => ({ created }));
  return entries.map((h) => ({ ...h, created }));
}

/** A history entry for a layer the exporter adds. */
export function layerHistory(created: string, createdBy: string, keepHistory: boolean): History {
  return keepHistory ? { created, created_by: createdBy } : { created };
}
