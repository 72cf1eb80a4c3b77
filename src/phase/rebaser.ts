import type { StoredImage } from "../image/store.js";
import { familyOf, MutableImage } from "../image/mutable-image.js";
import type { History, ImageConfig } from "../image/types.js";
import type { Logger } from "../log/logger.js";
import { withTimer } from "../log/timer.js";
import { ApiVersion } from "../platform/api-version.js";
import type { PlatformFeatures } from "../platform/features.js";
import { goJsonMarshal } from "../platform/files/go-json.js";
import {
  LIFECYCLE_METADATA_LABEL,
  lifecycleMetadataToLabel,
  parseLifecycleMetadataLabelCompat,
  runImageNamesToGoJson,
  type LifecycleMetadataCompat,
} from "../platform/files/lifecycle-metadata.js";
import { sameImageName } from "../registry/reference.js";

/** A rebase refused by validation; the message says how to override when `-force` can. */
export class RebaseValidationError extends Error {
  override name = "RebaseValidationError";
}

/** Inputs of {@link rebase}: the app image, the new base, and the rules to apply. */
export interface RebaserOptions {
  readonly features: PlatformFeatures;
  readonly logger: Logger;
  readonly appImage: StoredImage;
  readonly newBase: StoredImage;
  /** The new run image's name as chosen (checked against the label's image/mirrors on API 0.12+). */
  readonly newBaseName: string;
  /** Identifier recorded as `runImage.reference` (digest reference or layout identifier). */
  readonly newBaseReference: string;
  readonly force: boolean;
}

const STACK_PREFIX = "io.buildpacks.stack.";
const BASE_PREFIX = "io.buildpacks.base.";
const BASE_ID = "io.buildpacks.base.id";
const DISTRO_NAME = "io.buildpacks.base.distro.name";
const DISTRO_VERSION = "io.buildpacks.base.distro.version";

function labelsOf(config: ImageConfig): Record<string, string> {
  return config.config?.Labels ?? {};
}

/** The Platform API an app image was built with (`CNB_PLATFORM_API` in its env). */
export function appPlatformApi(config: ImageConfig): ApiVersion | undefined {
  const entry = (config.config?.Env ?? []).find((e) => e.startsWith("CNB_PLATFORM_API="));
  return entry ? ApiVersion.parse(entry.slice("CNB_PLATFORM_API=".length)) : undefined;
}

/** An image's target as Go's `TargetMetadata` marshals it (`id`, `os`, `arch`, `arch-variant`, `distro`). */
function targetJson(config: ImageConfig): string {
  const labels = labelsOf(config);
  const hasDistro = labels[DISTRO_NAME] !== undefined || labels[DISTRO_VERSION] !== undefined;
  return goJsonMarshal({
    id: labels[BASE_ID] || undefined,
    os: config.os ?? "",
    arch: config.architecture ?? "",
    "arch-variant": config.variant || undefined,
    distro: hasDistro ? { name: labels[DISTRO_NAME] ?? "", version: labels[DISTRO_VERSION] ?? "" } : undefined,
  });
}

/** Legacy apps (Platform API < 0.12): stack IDs must match and mixins be present; `-force` does not help. */
function validateStack(app: ImageConfig, base: ImageConfig): void {
  const appStack = labelsOf(app)["io.buildpacks.stack.id"];
  const baseStack = labelsOf(base)["io.buildpacks.stack.id"];
  if (!appStack) throw new RebaseValidationError("stack not defined on app image");
  if (!baseStack) throw new RebaseValidationError("stack not defined on new base image");
  if (appStack !== baseStack) throw new RebaseValidationError(`incompatible stack: '${baseStack}' is not compatible with '${appStack}'`);
  const mixins = (config: ImageConfig): string[] => {
    const raw = labelsOf(config)["io.buildpacks.stack.mixins"];
    if (!raw) return [];
    try {
      const parsed: unknown = JSON.parse(raw);
      return Array.isArray(parsed) ? parsed.filter((m): m is string => typeof m === "string") : [];
    } catch {
      return [];
    }
  };
  const strip = (m: string) => m.replace(/^(build|run):/, "");
  const have = new Set(mixins(base).map(strip));
  const missing = [...new Set(mixins(app).filter((m) => !m.startsWith("build:")).map(strip))].filter((m) => !have.has(m)).sort();
  if (missing.length > 0) throw new RebaseValidationError(`missing required mixin(s): ${missing.join(", ")}`);
}

/** Apps built with Platform API 0.12+: rebasable label and target (os/arch/variant/distro) checks. */
function validateTarget(opts: RebaserOptions, app: ImageConfig, base: ImageConfig): void {
  const check = (ok: boolean, message: string) => {
    if (ok) return;
    if (!opts.force) throw new RebaseValidationError(`${message}; please provide -force to override`);
    opts.logger.warn(message);
  };
  check(labelsOf(app)["io.buildpacks.rebasable"] !== "false", "app image is not marked as rebasable");
  const appLabels = labelsOf(app);
  const baseLabels = labelsOf(base);
  let ok = (base.os ?? "") === (app.os ?? "") && (base.architecture ?? "") === (app.architecture ?? "");
  if (base.variant && app.variant && base.variant !== app.variant) ok = false;
  for (const key of [DISTRO_NAME, DISTRO_VERSION]) {
    const want = baseLabels[key];
    if (want === undefined) continue;
    if (appLabels[key] === undefined || (want !== "" && appLabels[key] !== want)) ok = false;
  }
  check(ok, `unable to satisfy target os/arch constraints; new run image: ${targetJson(base)}, old run image: ${targetJson(app)}`);
}

/** Whether the chosen run image is named in the label's runImage or stack.runImage (digest-insensitive). */
function namedInLabel(md: LifecycleMetadataCompat, name: string): boolean {
  const names = [md.runImage.image, ...(md.runImage.mirrors ?? []), md.stack?.runImage.image, ...(md.stack?.runImage.mirrors ?? [])];
  return names.some((n) => n !== undefined && n !== "" && sameImageName(n, name));
}

/** Moves the labels with a prefix from the new base onto the app config. */
function syncLabels(config: ImageConfig, base: ImageConfig, prefix: string): void {
  const labels = { ...labelsOf(config) };
  for (const k of Object.keys(labels)) if (k.startsWith(prefix)) delete labels[k];
  for (const [k, v] of Object.entries(labelsOf(base))) if (k.startsWith(prefix)) labels[k] = v;
  config.config = { ...(config.config ?? {}), Labels: labels };
}

/**
 * The rebaser (contract §4.10): validates the new base against the app (stack for legacy apps,
 * rebasable/target otherwise), swaps the base layers, keeps the app layers and config, and updates
 * the lifecycle label and the base labels. Returns the image to save.
 */
export async function rebase(opts: RebaserOptions): Promise<MutableImage> {
  return withTimer(opts.logger, "Rebaser", async () => {
    const [{ config: appConfig }, appLayers, { config: baseConfig }, baseLayers] = await Promise.all([
      opts.appImage.config(),
      opts.appImage.layers(),
      opts.newBase.config(),
      opts.newBase.layers(),
    ]);
    const label = labelsOf(appConfig)[LIFECYCLE_METADATA_LABEL];
    if (!label) throw new Error(`app image has no ${LIFECYCLE_METADATA_LABEL} label`);
    const md = parseLifecycleMetadataLabelCompat(label);
    const api = appPlatformApi(appConfig);
    if (!api || api.lessThan("0.12")) validateStack(appConfig, baseConfig);
    else validateTarget(opts, appConfig, baseConfig);

    const oldTop = appLayers.findIndex((l) => l.diffId === md.runImage.topLayer);
    if (oldTop < 0) throw new Error(`previous image is missing the run image's top layer ${md.runImage.topLayer}`);
    const newTop = baseLayers[baseLayers.length - 1];
    if (!newTop) throw new Error("new base image has no layers");
    const appOnly = appLayers.slice(oldTop + 1);

    // Go updates the top layer and reference before the name check, so its message shows the new ones
    md.runImage = { ...md.runImage, topLayer: newTop.diffId, reference: opts.newBaseReference };
    if (opts.features.rebaserChecksRunImageName && !namedInLabel(md, opts.newBaseName)) {
      const message = `rebase app image: new base image '${opts.newBaseName}' not found in existing run image metadata: ${existingRunImageJson(md)}`;
      if (!opts.force) throw new RebaseValidationError(`${message}; please provide -force to override`);
      opts.logger.warn(message);
      md.runImage = { ...md.runImage, image: opts.newBaseName, mirrors: undefined };
      md.stack = { runImage: { image: opts.newBaseName } };
    }

    const config: ImageConfig = structuredClone(appConfig);
    config.os = baseConfig.os;
    config.architecture = baseConfig.architecture;
    if (baseConfig["os.version"] !== undefined) config["os.version"] = baseConfig["os.version"];
    else delete config["os.version"];
    if (baseConfig.variant) config.variant = baseConfig.variant;
    syncLabels(config, baseConfig, STACK_PREFIX);
    if (opts.features.rebaserChecksRunImageName) syncLabels(config, baseConfig, BASE_PREFIX);
    config.config = { ...(config.config ?? {}), Labels: { ...labelsOf(config), [LIFECYCLE_METADATA_LABEL]: lifecycleMetadataToLabel(md) } };
    config.history = rebasedHistory(appConfig, baseConfig, oldTop + 1, baseLayers.length, appLayers.length);

    const family = familyOf((await opts.appImage.manifest()).mediaType);
    const image = new MutableImage(config, [...baseLayers, ...appOnly], family);
    return image;
  });
}

/** What Go's name-check message shows: the label's `runImage`, else `stack.runImage`, else `not found`. */
function existingRunImageJson(md: LifecycleMetadataCompat): string {
  if (md.runImage.image) return goJsonMarshal({ topLayer: md.runImage.topLayer, reference: md.runImage.reference, ...runImageNamesToGoJson(md.runImage) });
  if (md.stack) return goJsonMarshal(runImageNamesToGoJson(md.stack.runImage));
  return "not found";
}

/** History entries of the non-empty layers only. */
function layerHistory(config: ImageConfig): History[] {
  return (config.history ?? []).filter((h) => !h.empty_layer);
}

/**
 * History of the rebased image: the new base's entries for its layers, then the app's entries for
 * the app layers; blank entries when either side's history does not match its layers.
 */
function rebasedHistory(app: ImageConfig, base: ImageConfig, oldBaseCount: number, newBaseCount: number, appCount: number): History[] {
  const appHistory = layerHistory(app);
  const baseHistory = layerHistory(base);
  const created = app.created;
  const blank = (n: number): History[] => Array.from({ length: n }, () => (created ? { created } : {}));
  const baseEntries = baseHistory.length === newBaseCount ? baseHistory : blank(newBaseCount);
  const appEntries = appHistory.length === appCount ? appHistory.slice(oldBaseCount) : blank(appCount - oldBaseCount);
  return [...baseEntries, ...appEntries];
}
