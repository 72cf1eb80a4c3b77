import { LifecycleError } from "../platform/errors.js";
import { ExitCode } from "../platform/exit-codes.js";
import type { CommandContext, PhaseCommand } from "./command.js";
import { F } from "./flag-specs.js";

/** The rebaser's flags for every supported Platform API (contract §2.4). */
export const REBASER_FLAGS = [
  F.daemon,
  F.force,
  F.gid,
  F.image,
  F.insecureRegistry,
  { ...F.previousImage, since: "0.11", envWhenUndefined: true },
  // the rebaser has no -layers flag: its report defaults to $CNB_LAYERS_DIR/report.toml
  F.report,
  F.runImage,
  F.uid,
];

export const rebaserCommand: PhaseCommand<void> = {
  name: "rebaser",
  argsSynopsis: "<image> [<image>...]",
  flags: REBASER_FLAGS,
  args(ctx: CommandContext) {
    if (ctx.flags.args.length === 0) {
      throw new LifecycleError(ExitCode.InvalidArgs, "failed to parse arguments: at least one image argument is required");
    }
  },
  privileges() {},
  exec() {
    return Promise.reject(new LifecycleError(ExitCode.Failed, "failed to rebase: not implemented yet"));
  },
};
