import { LifecycleError } from "../platform/errors.js";
import { ExitCode } from "../platform/exit-codes.js";
import { readAnalyzedIfExists, type Analyzed } from "../platform/files/analyzed.js";
import { absoluteDir, readVerifiedGroup, substituteLayers, validateReferences, validateSameRegistry } from "../platform/inputs.js";
import type { CommandContext, PhaseCommand } from "./command.js";
import { F } from "./flag-specs.js";
import { flagBool, flagInt, flagString, flagStrings } from "./go-flags.js";
import { ensurePrivileges } from "./privileges.js";

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

export const exporterCommand: PhaseCommand<ExporterInputs> = {
  name: "exporter",
  argsSynopsis: "<image> [<image>...]",
  flags: EXPORTER_FLAGS,
  async args(ctx: CommandContext) {
    const f = ctx.flags;
    if (f.args.length === 0) {
      throw new LifecycleError(ExitCode.InvalidArgs, "failed to parse arguments: at least one image argument is required");
    }
    const fail = (msg: string) => new LifecycleError(ExitCode.InvalidArgs, `failed to resolve inputs: ${msg}`);
    const [outputImage = "", ...additionalTags] = f.args;
    if (outputImage === "") throw fail("image argument is required");
    const layersDir = absoluteDir(flagString(f, "layers"), ctx.cwd);
    const runImageFlag = flagString(f, "run-image");
    if (runImageFlag !== "" && runImageFlag !== (ctx.env.CNB_RUN_IMAGE ?? "")) throw fail("-run-image is unsupported");
    if (flagString(f, "image") !== "") throw fail("-image is unsupported");
    const analyzedPath = substituteLayers(flagString(f, "analyzed"), layersDir);
    let analyzed: Analyzed | undefined;
    try {
      analyzed = await readAnalyzedIfExists(analyzedPath);
    } catch {
      analyzed = undefined;
    }
    const runImageRef = analyzed?.runImage?.reference ?? "";
    if (runImageRef === "") throw fail("run image not found in analyzed metadata");
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
    await ensurePrivileges({
      env: ctx.env,
      images: images.filter((i) => i !== ""),
      chown: [inputs.cacheDir, inputs.launchCacheDir],
      uid: inputs.uid,
      gid: inputs.gid,
    });
  },
  async exec(inputs, _runtime, ctx) {
    await readVerifiedGroup(inputs.groupPath, ctx.env, ctx.logger);
    throw new LifecycleError(ExitCode.Failed, "failed to export: not implemented yet");
  },
};
