import { LifecycleError } from "../platform/errors.js";
import { ExitCode } from "../platform/exit-codes.js";
import type { CommandContext, PhaseCommand } from "./command.js";
import { F } from "./flag-specs.js";

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

export const exporterCommand: PhaseCommand<void> = {
  name: "exporter",
  argsSynopsis: "<image> [<image>...]",
  flags: EXPORTER_FLAGS,
  args(ctx: CommandContext) {
    if (ctx.flags.args.length === 0) {
      throw new LifecycleError(ExitCode.InvalidArgs, "failed to parse arguments: at least one image argument is required");
    }
  },
  privileges() {},
  exec() {
    return Promise.reject(new LifecycleError(ExitCode.Failed, "failed to export: not implemented yet"));
  },
};
