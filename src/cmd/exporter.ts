import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { BlobPusher } from "../image/registry-writer.js";
import type { ImageStore } from "../image/store.js";
import { sharedBlockWorkers } from "../layers/block-workers.js";
import { goQuote } from "../log/go-quote.js";
import type { Logger } from "../log/logger.js";
import { ProgressReporter } from "../log/progress.js";
import { announcePreviousImage, exportApp, openExportImages } from "../phase/exporter/export.js";
import { createdTime } from "../phase/exporter/launch-config.js";
import { errorMessage, LifecycleError, failErr } from "../platform/errors.js";
import { ExitCode } from "../platform/exit-codes.js";
import { guardExperimental } from "../platform/experimental.js";
import { platformFeatures, type PlatformFeatures } from "../platform/features.js";
import { readAnalyzedIfExists, type Analyzed } from "../platform/files/analyzed.js";
import { emptyLifecycleMetadata } from "../platform/files/lifecycle-metadata.js";
import { readProjectMetadataIfExists, type ProjectMetadata } from "../platform/files/project-metadata.js";
import { readRunTomlIfExists } from "../platform/files/run.js";
import { readStackTomlIfExists } from "../platform/files/stack.js";
import { absoluteDir, readExportRunImage, readVerifiedGroup, substituteLayers, validateReferences, validateSameRegistry } from "../platform/inputs.js";
import { runImageForLabel } from "../platform/run-image-selection.js";
import type { RegistryClient } from "../registry/client.js";
import { imageArgs, type CommandContext, type PhaseCommand } from "./command.js";
import { openCache } from "./cache.js";
import { F } from "./flag-specs.js";
import { flagBool, flagInt, flagString, flagStrings } from "./go-flags.js";
import { createImageStore, imageStoreKind } from "./image-store.js";
import { ensurePrivileges } from "./privileges.js";
import { makeRegistryClient } from "./registry.js";

/** The exporter's flags for every supported Platform API (contract §2.3). */
export const EXPORTER_FLAGS = [
  F.analyzed,
  F.app,
  F.cacheDir,
  F.cacheImage,
  F.daemon,
  F.extended,
  F.gid,
  F.group,
  F.insecureRegistry,
  F.launchCache,
  F.launcher,
  F.launcherSbom,
  F.layers,
  F.layout,
  F.layoutDir,
  F.parallel,
  F.processType,
  F.projectMetadata,
  F.report,
  F.run,
  F.runImage,
  F.image,
  F.stack,
  F.uid,
];

/** The exporter's resolved inputs. */
export interface ExporterInputs {
  readonly outputImage: string;
  readonly additionalTags: readonly string[];
  readonly analyzedPath: string;
  readonly analyzed: Analyzed | undefined;
  readonly runImageRef: string;
  readonly appDir: string;
  readonly cacheDir: string;
  readonly cacheImage: string;
  readonly daemon: boolean;
  readonly extendedDir: string;
  readonly groupPath: string;
  readonly insecureRegistries: readonly string[];
  readonly launchCacheDir: string;
  readonly launcherPath: string;
  readonly launcherSbomDir: string;
  readonly layersDir: string;
  readonly layout: boolean;
  readonly layoutDir: string;
  readonly parallel: boolean;
  readonly processType: string;
  readonly projectMetadataPath: string;
  readonly reportPath: string;
  readonly runPath: string;
  readonly stackPath: string;
  readonly uid: number;
  readonly gid: number;
}

/** What Exec needs from Privileges. */
interface ExporterRuntime {
  /** The cache image always lives in a registry. */
  readonly client: RegistryClient;
  readonly store: ImageStore;
  /** Blob uploads of this run (app image and cache image share them). */
  readonly pusher: BlobPusher;
}

/** The run image names for the label (contract §6.3). */
async function runImageNames(inputs: ExporterInputs, features: PlatformFeatures, analyzed: Analyzed, group: { groupExtensions: readonly unknown[] }, logger: Logger) {
  if (features.labelsRunImageNames) {
    const runToml = await readRunTomlIfExists(inputs.runPath);
    if (!runToml) logger.info(`No run metadata found at path ${goQuote(inputs.runPath)}`);
    return runImageForLabel(runToml, analyzed.runImage?.image ?? "", group.groupExtensions.length > 0);
  }
  const stack = await readStackTomlIfExists(inputs.stackPath);
  if (!stack) logger.info(`No stack metadata found at path ${goQuote(inputs.stackPath)}`);
  const img = stack?.runImage;
  return { ...(img?.image ? { image: img.image } : {}), ...(img?.mirrors.length ? { mirrors: [...img.mirrors] } : {}) };
}

export const exporterCommand: PhaseCommand<ExporterInputs, ExporterRuntime> = {
  name: "exporter",
  argsSynopsis: "<image> [<image>...]",
  flags: EXPORTER_FLAGS,
  async args(ctx: CommandContext) {
    const f = ctx.flags;
    const { outputImage, tags: additionalTags } = imageArgs(ctx);
    const fail = (msg: string) => new LifecycleError(ExitCode.InvalidArgs, `failed to resolve inputs: ${msg}`);
    const layersDir = absoluteDir(flagString(f, "layers"), ctx.cwd);
    const runImageFlag = flagString(f, "run-image");
    if (runImageFlag !== "" && runImageFlag !== (ctx.env.CNB_RUN_IMAGE ?? "")) throw fail("-run-image is unsupported");
    if (flagString(f, "image") !== "") throw fail("-image is unsupported");
    const analyzedPath = substituteLayers(flagString(f, "analyzed"), layersDir);
    const { analyzed, runImageRef } = await readExportRunImage(analyzedPath, () =>
      ctx.logger.warn(`No analyzed metadata found at path ${goQuote(analyzedPath)}`),
    );
    const inputs: ExporterInputs = {
      outputImage,
      additionalTags,
      analyzedPath,
      analyzed,
      runImageRef,
      appDir: absoluteDir(flagString(f, "app"), ctx.cwd),
      cacheDir: absoluteDir(flagString(f, "cache-dir"), ctx.cwd),
      cacheImage: flagString(f, "cache-image"),
      daemon: flagBool(f, "daemon"),
      extendedDir: substituteLayers(flagString(f, "extended"), layersDir),
      groupPath: substituteLayers(flagString(f, "group"), layersDir),
      insecureRegistries: flagStrings(f, "insecure-registry"),
      launchCacheDir: absoluteDir(flagString(f, "launch-cache"), ctx.cwd),
      launcherPath: flagString(f, "launcher"),
      launcherSbomDir: flagString(f, "launcher-sbom"),
      layersDir,
      layout: flagBool(f, "layout"),
      layoutDir: flagString(f, "layout-dir"),
      parallel: flagBool(f, "parallel"),
      processType: flagString(f, "process-type"),
      projectMetadataPath: substituteLayers(flagString(f, "project-metadata"), layersDir),
      reportPath: substituteLayers(flagString(f, "report"), layersDir),
      runPath: flagString(f, "run") || "/cnb/run.toml",
      stackPath: flagString(f, "stack") || "/cnb/stack.toml",
      uid: flagInt(f, "uid"),
      gid: flagInt(f, "gid"),
    };
    if (inputs.cacheImage === "" && inputs.cacheDir === "") {
      ctx.logger.warn("No cached data will be used, no cache specified.");
    }
    if (inputs.launchCacheDir !== "" && !inputs.daemon) {
      ctx.logger.warn("Ignoring -launch-cache, only intended for use with -daemon");
    }
    validateReferences([outputImage, ...additionalTags, inputs.cacheImage, ctx.env.CNB_PREVIOUS_IMAGE ?? ""]);
    if (!inputs.daemon) validateSameRegistry([outputImage, ...additionalTags]);
    return inputs;
  },
  async privileges(inputs, ctx) {
    const images = [inputs.cacheImage];
    if (!inputs.daemon) {
      images.push(inputs.outputImage, ...inputs.additionalTags, inputs.runImageRef, inputs.analyzed?.previousImage?.reference ?? "");
    }
    const { keychain, daemon } = await ensurePrivileges({
      env: ctx.env,
      images: images.filter((i) => i !== ""),
      chown: [inputs.cacheDir, inputs.launchCacheDir],
      uid: inputs.uid,
      gid: inputs.gid,
      ...(inputs.daemon ? { daemon: "required" as const } : {}),
    });
    const client = makeRegistryClient(ctx.env, keychain, inputs.insecureRegistries, ctx.logger);
    const pusher = new BlobPusher(client, { concurrency: 4, progress: new ProgressReporter(ctx.logger) });
    const store = await createImageStore(imageStoreKind(inputs), {
      client: () => client,
      pusher,
      layoutDir: inputs.layoutDir,
      daemon,
      launchCacheDir: inputs.launchCacheDir,
    });
    return { client, store, pusher };
  },
  async exec(inputs, { client, store, pusher }, ctx) {
    // the layer workers boot while the inputs are read and the images opened
    sharedBlockWorkers().warm();
    const features = platformFeatures(ctx.api);
    const logger = ctx.logger;
    let analyzed: Analyzed;
    try {
      analyzed = (await readAnalyzedIfExists(inputs.analyzedPath)) ?? { metadata: emptyLifecycleMetadata() };
    } catch (err) {
      throw failErr(ExitCode.Failed, "read analyzed metadata", err);
    }
    if (inputs.layout) {
      guardExperimental("export to OCI layout format", ctx.env, logger);
      if (inputs.layoutDir === "") throw new LifecycleError(ExitCode.InvalidArgs, "failed to resolve inputs: -layout-dir is required when -layout is set");
    }
    const group = await readVerifiedGroup(inputs.groupPath, ctx.env, logger);
    const cache = await openCache(inputs.cacheImage, inputs.cacheDir, client, {
      deletePrevious: features.deletesPreviousCacheImage,
      logger,
      pusher,
    });
    if (features.extensionsExperimental && (await readdir(join(inputs.extendedDir, "run")).then((e) => e.length > 0, () => false))) {
      guardExperimental("Dockerfiles", ctx.env, logger);
    }
    let projectMetadata: ProjectMetadata | undefined;
    try {
      projectMetadata = await readProjectMetadataIfExists(inputs.projectMetadataPath);
      if (!projectMetadata) logger.debug(`No project metadata found at path '${inputs.projectMetadataPath}', project metadata will not be exported`);
    } catch (err) {
      throw failErr(ExitCode.Failed, "read project metadata", err);
    }
    const previousRef = analyzed.previousImage?.reference ?? "";
    announcePreviousImage(store, previousRef, logger);
    // Go reads SOURCE_DATE_EPOCH (and warns) between these two lines
    const created = createdTime(ctx.env, features, logger);
    let images;
    try {
      images = await openExportImages(store, inputs.runImageRef, previousRef, inputs.outputImage, logger);
    } catch (err) {
      throw failErr(ExitCode.Failed, "create new app image", err);
    }
    let names;
    try {
      names = await runImageNames(inputs, features, analyzed, group, logger);
    } catch (err) {
      throw new LifecycleError(ExitCode.Failed, errorMessage(err), { cause: err });
    }
    try {
      await exportApp({
        features,
        logger,
        store,
        images,
        cache,
        names: [inputs.outputImage, ...inputs.additionalTags],
        layersDir: inputs.layersDir,
        appDir: inputs.appDir,
        group: group.group,
        previousMetadata: analyzed.metadata,
        runImageNames: names,
        projectMetadata,
        processType: inputs.processType,
        launcherPath: inputs.launcherPath,
        launcherSbomDir: inputs.launcherSbomDir,
        reportPath: inputs.reportPath,
        owner: { uid: inputs.uid, gid: inputs.gid },
        created,
        execEnv: ctx.env.CNB_EXEC_ENV || "production",
        parallel: inputs.parallel,
        extendedDir: inputs.extendedDir,
        extend: analyzed.runImage?.extend ?? false,
        analyzedPath: inputs.analyzedPath,
      });
    } catch (err) {
      if (err instanceof LifecycleError) throw err;
      throw failErr(ExitCode.ExportError, "export", err);
    }
  },
};
