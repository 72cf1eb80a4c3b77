// Real local inputs for the phases' transcript tests: run images written as OCI layouts, a build
// workspace as a builder leaves it, a volume cache, and the phases run in-process on them.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildTar, layerFromTar } from "../../acceptance/helpers/fixtures.js";
import { createWorkspace, TRANSCRIPT_BUILD, type BuildSpec, type Workspace } from "../../acceptance/helpers/workspace.js";
import { VolumeCacheAdapter, type Cache } from "../../src/cache/cache.js";
import { VolumeCache } from "../../src/cache/volume-cache.js";
import { layoutPathForReference } from "../../src/image/layout-path.js";
import { LayoutStore } from "../../src/image/layout-store.js";
import { writeLayoutImage } from "../../src/image/layout-writer.js";
import { MutableImage } from "../../src/image/mutable-image.js";
import { MemoryLogger } from "../../src/log/logger.js";
import { analyze } from "../../src/phase/analyzer.js";
import { announcePreviousImage, exportApp, openExportImages, type ExportOptions } from "../../src/phase/exporter/export.js";
import { ApiVersion } from "../../src/platform/api-version.js";
import { platformFeatures, type PlatformFeatures } from "../../src/platform/features.js";
import type { Analyzed } from "../../src/platform/files/analyzed.js";
import { readGroupToml } from "../../src/platform/files/group.js";
import { NORMALIZED_TIME as NORMALIZED_CREATED } from "../../src/oci/normalized-time.js";

/** The registry part of every image name (never contacted: the images are OCI layouts). */
export const REGISTRY = "registry.test";
export const RUN_IMAGE = `${REGISTRY}/acme/run:1`;
export const APP_IMAGE = `${REGISTRY}/acme/app:main`;

/** The build of every transcript test. */
export const BUILD: BuildSpec = TRANSCRIPT_BUILD;

/** Digests and the temporary directory replaced by placeholders, so a transcript compares exactly. */
export function masked(lines: readonly string[], root: string): string[] {
  return lines.map((l) => l.replaceAll(root, "<tmp>").replace(/sha256:[0-9a-f]{64}/g, "sha256:<digest>"));
}

/** Writes a one-layer run image into the layout store's directory for `name`. */
export async function writeRunImage(layoutDir: string, name: string, options: { architecture?: string; baseId?: string; content?: string } = {}): Promise<void> {
  const image = MutableImage.scratch("linux", options.architecture ?? "amd64");
  const tar = await buildTar([{ path: "etc/os-release", content: options.content ?? "ID=test\n" }]);
  image.addLayer(layerFromTar(join(layoutDir, "..", "blobs-src"), `run-${options.content?.length ?? 0}-${options.architecture ?? "amd64"}`, tar), {
    created: NORMALIZED_CREATED,
    created_by: "run image layer",
  });
  image.setEnv("PATH", "/usr/bin:/bin");
  image.setLabel("io.buildpacks.base.id", options.baseId ?? "io.acme.base");
  image.editableConfig.created = NORMALIZED_CREATED;
  const ref = name.split(":").pop() ?? "latest";
  await writeLayoutImage(image, layoutPathForReference(layoutDir, name), { refName: ref, exclusive: true });
}

/** A build workspace (layers, app, launcher) plus launch and cache SBOMs, as the builder leaves them. */
export function buildWorkspace(root: string): Workspace {
  const ws = createWorkspace(root, BUILD);
  for (const kind of ["launch", "cache"]) {
    const dir = join(ws.layers, "sbom", kind, "acme_node", "node");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "sbom.cdx.json"), `{"kind":"${kind}"}`);
  }
  return ws;
}

/** Everything a phase run needs. */
export interface PhaseSetup {
  readonly root: string;
  readonly layoutDir: string;
  readonly store: LayoutStore;
  readonly features: PlatformFeatures;
}

/** A layout store under `root` with the run image in it, for Platform API `api`. */
export async function phaseSetup(root: string, api = "0.15"): Promise<PhaseSetup> {
  const layoutDir = join(root, "layout");
  await writeRunImage(layoutDir, RUN_IMAGE);
  const version = ApiVersion.parse(api);
  if (!version) throw new Error(`not a Platform API version: ${api}`);
  return { root, layoutDir, store: new LayoutStore(layoutDir), features: platformFeatures(version) };
}

/** Runs the analyzer in-process the way the command does; returns analyzed.toml's content and the lines. */
export async function runAnalyzer(setup: PhaseSetup, ws: Workspace, names: { image?: string; run?: string } = {}): Promise<{ analyzed: Analyzed; lines: string[] }> {
  const logger = new MemoryLogger("info");
  const image = names.image ?? APP_IMAGE;
  const run = names.run ?? RUN_IMAGE;
  const { store } = setup;
  const analyzed = await analyze({
    features: setup.features,
    logger,
    layersDir: ws.layers,
    skipLayers: false,
    previousImage: { name: image, image: store.open(image), display: store.describe(image) },
    runImage: { name: run, image: store.open(run), display: store.describe(run) },
  });
  return { analyzed, lines: logger.lines };
}

/** Opens the volume cache in `<workspace>/cache`. */
export async function volumeCache(ws: Workspace): Promise<Cache> {
  return new VolumeCacheAdapter(await VolumeCache.open(ws.cache));
}

/** What the exporter command passes to `exportApp` for a workspace a builder left, with the given parts. */
export async function exportOptions(
  ws: Workspace,
  analyzed: Analyzed,
  parts: Pick<ExportOptions, "features" | "logger" | "store" | "images" | "cache" | "names" | "tmpRoot"> & { runImage: string },
): Promise<ExportOptions> {
  const { runImage, ...given } = parts;
  return {
    ...given,
    layersDir: ws.layers,
    appDir: ws.app,
    group: (await readGroupToml(join(ws.layers, "group.toml"))).group,
    previousMetadata: analyzed.metadata,
    runImageNames: { image: runImage },
    projectMetadata: undefined,
    processType: "",
    launcherPath: ws.launcher,
    launcherSbomDir: "/cnb/lifecycle",
    reportPath: join(ws.layers, "report.toml"),
    owner: { uid: 0, gid: 0 },
    created: NORMALIZED_CREATED,
    execEnv: "production",
    parallel: false,
    extendedDir: join(ws.layers, "extended"),
    extend: false,
  };
}

/** Runs the exporter in-process the way the command does (announce, open, export); returns the lines. */
export async function runExporter(setup: PhaseSetup, ws: Workspace, analyzed: Analyzed, names: readonly string[] = [APP_IMAGE]): Promise<{ lines: string[]; error?: unknown }> {
  const logger = new MemoryLogger("info");
  const { store, features } = setup;
  const previousRef = analyzed.previousImage?.reference ?? "";
  try {
    announcePreviousImage(store, previousRef, logger);
    const images = await openExportImages(store, analyzed.runImage?.reference ?? "", previousRef, names[0] ?? "", logger);
    await exportApp(await exportOptions(ws, analyzed, { features, logger, store, images, cache: await volumeCache(ws), names, runImage: RUN_IMAGE, tmpRoot: setup.root }));
  } catch (error) {
    return { lines: logger.lines, error };
  }
  return { lines: logger.lines };
}
