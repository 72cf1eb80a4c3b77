import { LifecycleError } from "../platform/errors.js";
import { ExitCode } from "../platform/exit-codes.js";
import type { CommandContext, PhaseCommand } from "./command.js";
import { F } from "./flag-specs.js";

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

export const restorerCommand: PhaseCommand<void> = {
  name: "restorer",
  argsSynopsis: "",
  flags: RESTORER_FLAGS,
  args(ctx: CommandContext) {
    if (ctx.flags.args.length > 0) {
      throw new LifecycleError(ExitCode.InvalidArgs, "failed to parse arguments: received unexpected Args");
    }
  },
  privileges() {},
  exec() {
    return Promise.reject(new LifecycleError(ExitCode.Failed, "failed to restore: not implemented yet"));
  },
};
