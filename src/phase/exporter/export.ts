// The exporter phase as a whole (contract §2.3 steps 6-11): open the run and previous images, build
// the app image, save it under every name, write report.toml, and export the cache, with the
// temporary layer files removed whatever happens.
import { rm } from "node:fs/promises";
import { join } from "node:path";
import type { Cache } from "../../cache/cache.js";
import type { ImageStore, StoredImage } from "../../image/store.js";
import type { Owner } from "../../layers/layer-source.js";
import type { Logger } from "../../log/logger.js";
import { errorMessage } from "../../platform/errors.js";
import type { PlatformFeatures } from "../../platform/features.js";
import { readBuildMetadata, type BuildMetadata } from "../../platform/files/build-metadata.js";
import type { GroupElement } from "../../platform/files/group.js";
import type { LifecycleMetadata } from "../../platform/files/lifecycle-metadata.js";
import type { ProjectMetadata } from "../../platform/files/project-metadata.js";
import { writeReport } from "../../platform/files/report.js";
import { RestoreRecordLookup } from "../../restore-record/lookup.js";
import { createLimiter } from "../../util/limiter.js";
import { saveImage } from "../save-image.js";
import { buildBom } from "./build-bom.js";
import { exportCache } from "./cache-export.js";
import { createExportTempDir } from "./export-temp-dir.js";
import { buildAppImage } from "./exporter.js";
import { readExtendedRunImage } from "./extension-layers.js";
import { LayerFactory } from "./layer-factory.js";
import { copyLifecycleSboms } from "./sbom-copy.js";

/** The images an export starts from. */
export interface ExportImages {
  /** The run image the app is built on. */
  readonly base: StoredImage;
  /** How the label records the run image (`runImage.reference`). */
  readonly baseReference: string;
  /** The previous app image, when it exists (its layers may be reused). */
  readonly previous: StoredImage | undefined;
}

/**
 * Go's first line about the images: `Reusing layers from image '<ref>'` when analyzed.toml names a
 * previous image (an OCI layout shows its path; for a daemon it is a debug line about the image ID).
 */
export function announcePreviousImage(store: ImageStore, previousRef: string, logger: Logger): void {
  if (previousRef === "") return;
  if (store.kind === "daemon") logger.debug(`Reusing layers from image with id '${previousRef}'`);
  else logger.info(`Reusing layers from image '${store.describe(previousRef)}'`);
}

/**
 * Opens the run image (a registry store retries as contract §7 says) and the previous image named
 * in analyzed.toml; in layout mode logs `Using app image: <path>` first, like Go.
 */
export async function openExportImages(store: ImageStore, runImageRef: string, previousRef: string, output: string, logger: Logger): Promise<ExportImages> {
  if (store.kind === "layout") logger.info(`Using app image: ${store.describe(output)}`);
  const base = await store.openBase(runImageRef, logger);
  let previous: StoredImage | undefined;
  if (previousRef !== "") {
    const image = store.open(previousRef);
    previous = (await image.exists()) ? image : undefined;
  }
  return { base, baseReference: await base.identifier(), previous };
}

/** Inputs of {@link exportApp}: resolved paths and files already read; no argv or environment. */
export interface ExportOptions {
  readonly features: PlatformFeatures;
  readonly logger: Logger;
  readonly store: ImageStore;
  readonly images: ExportImages;
  readonly cache: Cache | undefined;
  /** The output image, then the additional tags. */
  readonly names: readonly string[];
  readonly layersDir: string;
  readonly appDir: string;
  readonly group: readonly GroupElement[];
  readonly previousMetadata: LifecycleMetadata;
  /** Run image names for the label (contract §6.3). */
  readonly runImageNames: { image?: string; mirrors?: string[] };
  readonly projectMetadata: ProjectMetadata | undefined;
  readonly processType: string;
  readonly launcherPath: string;
  readonly launcherSbomDir: string;
  readonly reportPath: string;
  readonly owner: Owner;
  readonly created: string;
  readonly execEnv: string;
  /** Export the cache concurrently with the app image (`-parallel`). */
  readonly parallel: boolean;
  /** `-extended`: where the extender left the extended run image (`<extended>/run`). */
  readonly extendedDir: string;
  /** analyzed.toml `run-image.extend`: start from the extended image's config. */
  readonly extend: boolean;
  /** Where the temporary layer files go (default the OS temp dir). */
  readonly tmpRoot?: string;
  /** analyzed.toml: with it, the restore record the restorer wrote in this build spares reading unchanged layers. */
  readonly analyzedPath?: string;
}

/**
 * Builds and saves the app image and writes report.toml (any failure rejects: the exporter's exit
 * 62), and exports the cache after it, or alongside it with `parallel` (a cache failure is only a
 * warning `Failed to export cache: …`). Temporary files are removed before this settles.
 */
export async function exportApp(opts: ExportOptions): Promise<void> {
  const { features, logger, store, cache } = opts;
  const [output = ""] = opts.names;
  const tmpDir = await createExportTempDir(logger, opts.tmpRoot);
  const layerReady = store.layerReady?.bind(store);
  const record = opts.analyzedPath === undefined ? undefined : new RestoreRecordLookup({ layersDir: opts.layersDir, analyzedPath: opts.analyzedPath, owner: opts.owner, logger });
  const factory = new LayerFactory({
    record,
    logger,
    tmpDir,
    limiter: createLimiter(),
    encoding: store.layerEncoding,
    // start moving a layer to the store as soon as it is built, while the next ones are built
    onBuilt: layerReady ? (layer) => layerReady(output, layer) : undefined,
  });
  const runCache = async () => {
    if (!cache) return;
    try {
      await exportCache({ features, logger, layersDir: opts.layersDir, group: opts.group, cache, factory, owner: opts.owner, record });
    } catch (err) {
      logger.warn(`Failed to export cache: ${errorMessage(err)}`);
    }
  };
  const appExport = async () => {
    if (features.copiesLauncherSbom) await copyLifecycleSboms(opts.layersDir, opts.launcherSbomDir, logger);
    let buildMetadata: BuildMetadata;
    try {
      buildMetadata = await readBuildMetadata(join(opts.layersDir, "config", "metadata.toml"));
    } catch (err) {
      throw new Error(`read build metadata: ${errorMessage(err)}`, { cause: err });
    }
    const extended = features.exportsExtendedRunImage ? await readExtendedRunImage(opts.extendedDir) : undefined;
    const { image } = await buildAppImage({
      features,
      logger,
      layersDir: opts.layersDir,
      appDir: opts.appDir,
      group: opts.group,
      buildMetadata,
      projectMetadata: opts.projectMetadata,
      processType: opts.processType,
      launcherPath: opts.launcherPath,
      base: opts.images.base,
      baseReference: opts.images.baseReference,
      runImageNames: opts.runImageNames,
      labelRunImageNames: features.labelsRunImageNames,
      previousMetadata: opts.previousMetadata,
      previous: opts.images.previous,
      ...(store.cachedLayer ? { cachedLayer: (diffId: string) => store.cachedLayer?.(diffId) ?? Promise.resolve(undefined) } : {}),
      owner: opts.owner,
      created: opts.created,
      execEnv: opts.execEnv,
      factory,
      keepCacheTars: cache?.kind === "volume",
      extended,
      // an OCI layout app keeps the run image's config (contract §2.3 step 7)
      extendConfig: features.exportsExtendedRunImage && opts.extend && store.kind !== "layout",
    });
    const saved = await saveImage(store, image, opts.names, logger);
    const bom = features.reportHasBuildBom ? await buildBom(opts.layersDir, opts.group) : [];
    await writeReport(opts.reportPath, { image: { tags: saved.tags, ...saved.result.report }, ...(bom.length > 0 ? { build: { bom } } : {}) });
  };
  try {
    if (opts.parallel) {
      const [app] = await Promise.allSettled([appExport(), runCache()]);
      if (app.status === "rejected") throw app.reason;
    } else {
      await appExport();
      await runCache();
    }
  } finally {
    await factory.settled();
    await rm(tmpDir, { recursive: true, force: true }).catch((err: unknown) => logger.debug(`Removing ${tmpDir}: ${errorMessage(err)}`));
  }
}
