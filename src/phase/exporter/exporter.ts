import { stat } from "node:fs/promises";
import { join } from "node:path";
import type { StoredImage } from "../../image/store.js";
import { MutableImage } from "../../image/mutable-image.js";
import type { History, Layer } from "../../image/types.js";
import { appSliceSources } from "../../layers/app-slices.js";
import { directoryLayerSource } from "../../layers/directory-layer.js";
import type { LayerSource, Owner } from "../../layers/layer-source.js";
import { launcherLayerSource, processTypesLayerSource } from "../../layers/lifecycle-layers.js";
import type { Logger } from "../../log/logger.js";
import { withTimer } from "../../log/timer.js";
import type { PlatformFeatures } from "../../platform/features.js";
import { buildMetadataToLabel, BUILD_METADATA_LABEL } from "../../platform/files/build-metadata-label.js";
import type { BuildMetadata } from "../../platform/files/build-metadata.js";
import type { BuildpackLayersMetadata } from "../../platform/files/buildpack-layers-metadata.js";
import type { GroupElement } from "../../platform/files/group.js";
import { LIFECYCLE_METADATA_LABEL, lifecycleMetadataToLabel, type LifecycleMetadata } from "../../platform/files/lifecycle-metadata.js";
import { PROJECT_METADATA_LABEL, projectMetadataToLabel, type ProjectMetadata } from "../../platform/files/project-metadata.js";
import { readStoreTomlIfExists } from "../../platform/files/store.js";
import { LIFECYCLE_COMMIT, LIFECYCLE_VERSION } from "../../version.js";
import { buildpackDirName } from "../../platform/files/layer-names.js";
import { findBuildpackLayers } from "./buildpack-layers.js";
import type { ExtendedRunImage } from "./extension-layers.js";
import type { LayerFactory, MadeLayer } from "./layer-factory.js";
import { applyLaunchConfig, baseHistory, entrypoint, layerHistory } from "./launch-config.js";

/** An export failure that is the input's fault (exit 62 with this message). */
export class ExportError extends Error {
  override name = "ExportError";
}

/** Inputs of {@link buildAppImage}: resolved paths, files already read, images already opened. */
export interface ExporterOptions {
  readonly features: PlatformFeatures;
  readonly logger: Logger;
  readonly layersDir: string;
  readonly appDir: string;
  readonly group: readonly GroupElement[];
  readonly buildMetadata: BuildMetadata;
  readonly projectMetadata: ProjectMetadata | undefined;
  readonly processType: string;
  readonly launcherPath: string;
  /** The run image (base) and its identifier for the label (`runImage.reference`). */
  readonly base: StoredImage;
  readonly baseReference: string;
  /** Run image names for the label: `runImage.image`/`mirrors` (API 0.12+) and `stack.runImage`. */
  readonly runImageNames: { image?: string; mirrors?: string[] };
  /** Whether `runImage` itself carries the names (API 0.12+; older APIs only fill `stack.runImage`). */
  readonly labelRunImageNames: boolean;
  /** The previous image's metadata (analyzed.toml) and the image itself, for layer reuse. */
  readonly previousMetadata: LifecycleMetadata;
  readonly previous: StoredImage | undefined;
  /** Where a layer the previous image no longer provides may still be found (the daemon's launch cache). */
  readonly cachedLayer?: (diffId: string) => Promise<Layer | undefined>;
  readonly owner: Owner;
  readonly created: string;
  readonly execEnv: string;
  readonly factory: LayerFactory;
  /** Keep uncompressed tars of cache=true layers (a volume cache will store them). */
  readonly keepCacheTars: boolean;
  /** The run image as extensions extended it (API 0.12+), when `<extended>/run` holds one. */
  readonly extended?: ExtendedRunImage;
  /** analyzed.toml says `run-image.extend`: the app's config starts from the extended image's. */
  readonly extendConfig?: boolean;
}

/** One layer of the app image in order, with what the label and history need. */
interface PlannedLayer {
  readonly id: string;
  readonly made: Promise<MadeLayer>;
  readonly createdBy: string;
  /** A whole history entry to use instead of `createdBy` (extension layers keep the extended image's). */
  readonly history?: History;
}

const LIFECYCLE_ID = "buildpacksio/lifecycle";

/**
 * Layers of the previous image by diffID (only those the label lists may be reused); a layer the
 * label lists that the previous image no longer provides (a daemon that lost the image) is taken
 * from `cachedLayer` when it has it.
 */
async function previousLayers(opts: ExporterOptions): Promise<Map<string, Layer>> {
  const layers = opts.previous ? await opts.previous.layers() : [];
  const all = new Map(layers.map((l) => [l.diffId, l]));
  if (opts.cachedLayer) {
    const md = opts.previousMetadata;
    const listed = [
      ...md.buildpacks.flatMap((bp) => Object.values(bp.layers).map((l) => l.sha)),
      ...(Array.isArray(md.app) ? md.app.map((a) => a.sha) : []),
      md.sbom?.sha,
      md.launcher.sha,
      md.config.sha,
      md.processTypes.sha,
    ];
    for (const sha of listed) {
      if (!sha || all.has(sha)) continue;
      const cached = await opts.cachedLayer(sha);
      if (cached) all.set(sha, cached);
    }
  }
  return all;
}

function reuseOnly(all: ReadonlyMap<string, Layer>, shas: readonly (string | undefined)[]): Map<string, Layer> {
  const out = new Map<string, Layer>();
  for (const sha of shas) {
    const layer = sha ? all.get(sha) : undefined;
    if (sha && layer) out.set(sha, layer);
  }
  return out;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/**
 * Builds the app image (contract §2.3 step 9, §4): run image layers, buildpack launch layers (group
 * order, then name), the launch SBOM layer, app slices and remainder, launcher, config and
 * process types; labels, env, entrypoint and history. Layers are produced concurrently; the image
 * lists them in contract order and the logs follow that order too.
 */
export async function buildAppImage(opts: ExporterOptions): Promise<{ image: MutableImage; metadata: LifecycleMetadata }> {
  return withTimer(opts.logger, "Exporter", async () => {
    const { features, logger, factory } = opts;
    const image = await MutableImage.from(opts.base);
    const baseLayers = image.layerList;
    const top = baseLayers[baseLayers.length - 1];
    if (!top) throw new ExportError("run image has no layers");
    const prev = await previousLayers(opts);
    const prevMd = opts.previousMetadata;
    const planned: PlannedLayer[] = [];
    const plan = (id: string, createdBy: string, made: Promise<MadeLayer>, history?: History) => {
      made.catch(() => undefined); // awaited in order below; avoid unhandled rejections meanwhile
      planned.push({ id, made, createdBy, ...(history ? { history } : {}) });
      return made;
    };

    // extension layers (never reused) and the extended config
    if (opts.extendConfig) {
      if (!opts.extended) throw new ExportError("missing extended run image");
      image.editableConfig.config = structuredClone(opts.extended.config.config ?? {});
    }
    for (const ext of opts.extended?.layers ?? []) {
      void plan(ext.id, ext.history.created_by ?? "", factory.make(ext.id, ext.source), ext.history);
    }

    // buildpack launch layers
    const buildpacks: BuildpackLayersMetadata[] = [];
    const malformed: string[] = [];
    const bpLayerResults: { bp: number; name: string; made: Promise<MadeLayer>; entry: Omit<BuildpackLayersMetadata["layers"][string], "sha"> }[] = [];
    for (const [index, bp] of opts.group.entries()) {
      const prevBp = prevMd.buildpacks.find((b) => b.key === bp.id);
      const store = await readStoreTomlIfExists(join(opts.layersDir, buildpackDirName(bp.id), "store.toml"));
      buildpacks.push({ key: bp.id, version: bp.version, layers: {}, ...(store ? { store: { metadata: store.metadata } } : {}) });
      for (const found of await findBuildpackLayers(opts.layersDir, bp.id)) {
        if (found.content.malformed) {
          malformed.push(found.id);
          logger.debug(found.content.message);
          continue;
        }
        const { types, metadata } = found.content.value;
        if (!types.launch) continue;
        const old = prevBp?.layers[found.name];
        let made: Promise<MadeLayer>;
        if (found.dir) {
          made = factory.make(found.id, directoryLayerSource(found.dir, opts.owner), reuseOnly(prev, [old?.sha]), types.cache && opts.keepCacheTars);
        } else if (types.cache) {
          throw new ExportError(`layer '${found.id}' is cache=true but has no contents`);
        } else if (!old) {
          throw new ExportError(`cannot reuse '${found.id}', previous image has no metadata for layer '${found.id}'`);
        } else {
          const layer = prev.get(old.sha);
          if (!layer) throw new ExportError(`cannot reuse '${found.id}', previous image has no layer with diffID '${old.sha}'`);
          made = Promise.resolve({ layer, diffId: old.sha, reused: true });
        }
        void plan(found.id, `Layer: '${found.name}', Created by buildpack: ${bp.id}@${bp.version}`, made);
        bpLayerResults.push({ bp: index, name: found.name, made, entry: { data: metadata ?? null, build: types.build, launch: types.launch, cache: types.cache } });
      }
      if (malformed.length > 0) throw new ExportError(`failed to parse metadata for layers '[${malformed.join(" ")}]'`);
    }

    // launch SBOM layer
    const sbomDir = join(opts.layersDir, "sbom", "launch");
    const sbomMade = features.sbomLayers && (await exists(sbomDir))
      ? plan(`${LIFECYCLE_ID}:launch.sbom`, "Software Bill-of-Materials", factory.make(`${LIFECYCLE_ID}:launch.sbom`, directoryLayerSource(sbomDir, opts.owner), reuseOnly(prev, [prevMd.sbom?.sha])))
      : undefined;

    // app slices and remainder
    const slices = opts.buildMetadata.slices;
    const appReuse = reuseOnly(prev, Array.isArray(prevMd.app) ? prevMd.app.map((a) => a.sha) : []);
    const sliceSources = await appSliceSources(opts.appDir, slices, opts.owner);
    const appMade = sliceSources.map((source, i) =>
      plan(`slice-${i + 1}`, slices.length === 0 ? "Application Layer" : `Application Slice: ${i + 1}`, factory.make(`slice-${i + 1}`, source, appReuse)),
    );

    // launcher, launcher config, process types
    const lifecycleLayer = (name: string, createdBy: string, source: LayerSource, sha: string | undefined) =>
      plan(`${LIFECYCLE_ID}:${name}`, createdBy, factory.make(`${LIFECYCLE_ID}:${name}`, source, reuseOnly(prev, [sha])));
    const launcherMade = lifecycleLayer("launcher", "Buildpacks Application Launcher", launcherLayerSource(opts.launcherPath), prevMd.launcher.sha);
    const configMade = lifecycleLayer("config", "Buildpacks Launcher Config", directoryLayerSource(join(opts.layersDir, "config"), opts.owner), prevMd.config.sha);
    const processes = opts.buildMetadata.processes;
    const processTypesMade = processes.length > 0
      ? lifecycleLayer("process-types", "Buildpacks Process Types", processTypesLayerSource(processes.map((p) => p.type)), prevMd.processTypes.sha)
      : undefined;

    // add the layers in order, logging as Go does
    const keepHistory = features.keepsHistory;
    const history = baseHistory((await opts.base.config()).config, baseLayers.length, opts.created, keepHistory);
    const lastApp = `slice-${appMade.length}`;
    let appReused = 0;
    for (const p of planned) {
      const made = await p.made;
      if (p.id.startsWith("slice-")) {
        if (made.reused) appReused++;
      } else {
        logger.info(`${made.reused ? "Reusing" : "Adding"} layer '${p.id}'`);
      }
      logger.debug(`Layer '${p.id}' SHA: ${made.diffId}`);
      image.addLayer(made.layer);
      history.push(p.history && keepHistory ? { ...p.history, created: opts.created } : layerHistory(opts.created, p.createdBy, keepHistory));
      if (p.id === lastApp) {
        if (appReused > 0) logger.info(`Reused ${appReused}/${appMade.length} app layer(s)`);
        if (appReused < appMade.length) logger.info(`Added ${appMade.length - appReused}/${appMade.length} app layer(s)`);
      }
    }
    image.editableConfig.history = history;

    for (const r of bpLayerResults) {
      const bp = buildpacks[r.bp];
      if (bp) bp.layers[r.name] = { sha: (await r.made).diffId, ...r.entry };
    }
    const metadata: LifecycleMetadata = {
      app: await Promise.all(appMade.map(async (m) => ({ sha: (await m).diffId }))),
      ...(sbomMade ? { sbom: { sha: (await sbomMade).diffId } } : {}),
      buildpacks,
      config: { sha: (await configMade).diffId },
      launcher: { sha: (await launcherMade).diffId },
      processTypes: { sha: processTypesMade ? (await processTypesMade).diffId : "" },
      runImage: { topLayer: top.diffId, reference: opts.baseReference, ...(opts.labelRunImageNames ? opts.runImageNames : {}) },
      stack: { runImage: { ...opts.runImageNames } },
    };

    const setLabel = (key: string, value: string) => {
      logger.info(`Adding label '${key}'`);
      image.setLabel(key, value);
    };
    setLabel(LIFECYCLE_METADATA_LABEL, lifecycleMetadataToLabel(metadata));
    setLabel(
      BUILD_METADATA_LABEL,
      buildMetadataToLabel(
        opts.buildMetadata,
        { version: LIFECYCLE_VERSION, source: { git: { repository: "github.com/buildpacks/lifecycle", commit: LIFECYCLE_COMMIT } } },
        features,
      ),
    );
    setLabel(PROJECT_METADATA_LABEL, projectMetadataToLabel(opts.projectMetadata));
    for (const l of opts.buildMetadata.labels) setLabel(l.key, l.value);
    if (features.execEnvLabel && opts.execEnv !== "") setLabel("io.buildpacks.exec-env", opts.execEnv);

    applyLaunchConfig(image, {
      layersDir: opts.layersDir,
      appDir: opts.appDir,
      api: features.api.toString(),
      entrypoint: entrypoint(opts.buildMetadata, opts.processType, logger),
      created: opts.created,
    });
    return { image, metadata };
  });
}
