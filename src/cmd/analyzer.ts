import { LifecycleError } from "../platform/errors.js";
import { ExitCode } from "../platform/exit-codes.js";
import type { CommandContext, PhaseCommand } from "./command.js";
import { F } from "./flag-specs.js";

/** The analyzer's flags for every supported Platform API (contract §2.1). */
export const ANALYZER_FLAGS = [
  F.analyzed,
  F.cacheImage,
  F.daemon,
  F.gid,
  F.insecureRegistry,
  { ...F.launchCache, since: "0.9" },
  F.layers,
  F.layout,
  F.layoutDir,
  F.previousImage,
  F.run,
  F.runImage,
  { ...F.skipLayers, since: "0.9" },
  F.stack,
  F.tag,
  F.uid,
];

interface AnalyzerArgs {
  outputImage: string;
}

export const analyzerCommand: PhaseCommand<AnalyzerArgs> = {
  name: "analyzer",
  argsSynopsis: "<image>",
  flags: ANALYZER_FLAGS,
  args(ctx: CommandContext) {
    const n = ctx.flags.args.length;
    if (n !== 1) {
      throw new LifecycleError(
        ExitCode.InvalidArgs,
        `failed to parse arguments: received ${n} arguments, but expected 1`,
      );
    }
    return { outputImage: ctx.flags.args[0] ?? "" };
  },
  privileges() {},
  exec() {
    return Promise.reject(new LifecycleError(ExitCode.Failed, "failed to analyze: not implemented yet"));
  },
};
