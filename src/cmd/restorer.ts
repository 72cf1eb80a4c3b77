import { LifecycleError } from "../platform/errors.js";
import { ExitCode } from "../platform/exit-codes.js";
import { absoluteDir, readVerifiedGroup, substituteLayers, validateReferences } from "../platform/inputs.js";
import type { CommandContext, PhaseCommand } from "./command.js";
import { F } from "./flag-specs.js";
import { flagBool, flagInt, flagString, flagStrings } from "./go-flags.js";
import { ensurePrivileges } from "./privileges.js";

/** The restorer's flags for every supported Platform API (contract §2.2). */
export const RESTORER_FLAGS = [
  F.analyzed,
  F.buildImage,
  F.cacheDir,
  F.cacheImage,
  { ...F.daemon, since: "0.12" },
  F.generated,
  F.gid,
  F.group,
  F.insecureRegistry,
  F.layers,
  F.layout,
  F.layoutDir,
  { ...F.run, since: "0.14" },
  F.skipLayers,
  F.uid,
];

/** The restorer's resolved inputs. */
export interface RestorerInputs {
  readonly analyzedPath: string;
  readonly buildImage: string;
  readonly cacheDir: string;
  readonly cacheImage: string;
  readonly daemon: boolean;
  readonly generatedDir: string;
  readonly groupPath: string;
  readonly insecureRegistries: readonly string[];
  readonly layersDir: string;
  readonly layout: boolean;
  readonly layoutDir: string;
  readonly runPath: string;
  readonly skipLayers: boolean;
  readonly uid: number;
  readonly gid: number;
}

export const restorerCommand: PhaseCommand<RestorerInputs> = {
  name: "restorer",
  argsSynopsis: "",
  flags: RESTORER_FLAGS,
  args(ctx: CommandContext) {
    const f = ctx.flags;
    if (f.args.length > 0) {
      throw new LifecycleError(ExitCode.InvalidArgs, "failed to parse arguments: received unexpected Args");
    }
    const layersDir = absoluteDir(flagString(f, "layers"), ctx.cwd);
    const inputs: RestorerInputs = {
      analyzedPath: substituteLayers(flagString(f, "analyzed"), layersDir),
      buildImage: flagString(f, "build-image"),
      cacheDir: absoluteDir(flagString(f, "cache-dir"), ctx.cwd),
      cacheImage: flagString(f, "cache-image"),
      daemon: flagBool(f, "daemon"),
      generatedDir: absoluteDir(substituteLayers(flagString(f, "generated"), layersDir), ctx.cwd),
      groupPath: substituteLayers(flagString(f, "group"), layersDir),
      insecureRegistries: flagStrings(f, "insecure-registry"),
      layersDir,
      layout: flagBool(f, "layout"),
      layoutDir: flagString(f, "layout-dir"),
      runPath: flagString(f, "run") || "/cnb/run.toml",
      skipLayers: flagBool(f, "skip-layers"),
      uid: flagInt(f, "uid"),
      gid: flagInt(f, "gid"),
    };
    if (inputs.cacheImage === "" && inputs.cacheDir === "") {
      ctx.logger.warn("No cached data will be used, no cache specified.");
    }
    validateReferences([inputs.cacheImage, inputs.buildImage, ctx.env.CNB_PREVIOUS_IMAGE ?? "", ctx.env.CNB_RUN_IMAGE ?? ""]);
    return inputs;
  },
  async privileges(inputs, ctx) {
    const images = [inputs.cacheImage];
    if (!inputs.daemon) images.push(ctx.env.CNB_PREVIOUS_IMAGE ?? "", inputs.buildImage, ctx.env.CNB_RUN_IMAGE ?? "");
    await ensurePrivileges({
      env: ctx.env,
      images: images.filter((i) => i !== ""),
      chown: [inputs.layersDir, inputs.cacheDir, "/kaniko"],
      uid: inputs.uid,
      gid: inputs.gid,
    });
  },
  async exec(inputs, ctx) {
    await readVerifiedGroup(inputs.groupPath, ctx.env, ctx.logger);
    throw new LifecycleError(ExitCode.Failed, "failed to restore: not implemented yet");
  },
};
