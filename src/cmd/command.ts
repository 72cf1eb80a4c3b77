import { parseLogLevel, type DefaultLogger } from "../log/logger.js";
import type { ApiVersion } from "../platform/api-version.js";
import { LifecycleError } from "../platform/errors.js";
import { ExitCode } from "../platform/exit-codes.js";
import { versionString } from "../version.js";
import { COMMON_FLAGS } from "./flag-specs.js";
import { flagBool, flagString, GoFlagSet, type FlagSpec, type ParsedFlags } from "./go-flags.js";

/** Everything a phase command receives from the process: Platform API, environment, logger and parsed flags. */
export interface CommandContext {
  readonly api: ApiVersion;
  readonly env: NodeJS.ProcessEnv;
  readonly logger: DefaultLogger;
  readonly flags: ParsedFlags;
  /** Working directory, for resolving relative paths. */
  readonly cwd: string;
}

/**
 * A lifecycle phase as the Go lifecycle's `cli.Command`: flags, then Args (validate and resolve inputs,
 * exit 3), Privileges (keychain, chown, uid/gid switch, exit 1) and Exec (the phase itself).
 */
export interface PhaseCommand<Inputs, Runtime = void> {
  /** Binary name, e.g. `analyzer`. */
  readonly name: string;
  /** Positional arguments in the usage line. */
  readonly argsSynopsis: string;
  /** The phase's own flags (the common `-version`, `-log-level`, `-no-color` are added). */
  readonly flags: readonly FlagSpec[];
  args(ctx: CommandContext): Promise<Inputs> | Inputs;
  /** Returns what Exec needs that had to be set up while privileged (keychain, registry client). */
  privileges(inputs: Inputs, ctx: CommandContext): Promise<Runtime> | Runtime;
  exec(inputs: Inputs, runtime: Runtime, ctx: CommandContext): Promise<void>;
}

/** Output of a flag-parse failure or `-help`, with the exit code Go's flag package would use. */
export interface UsageExit {
  readonly exitCode: number;
  readonly stderr: string;
}

/** Runs a phase command through the Go lifecycle's steps; throws LifecycleError on failure. */
export async function runCommand<Inputs, Runtime>(
  command: PhaseCommand<Inputs, Runtime>,
  argv: readonly string[],
  api: ApiVersion,
  env: NodeJS.ProcessEnv,
  logger: DefaultLogger,
): Promise<void> {
  const flagSet = new GoFlagSet(command.name, [...COMMON_FLAGS, ...command.flags], api, command.argsSynopsis);
  const flags = flagSet.parse(argv, env);
  logger.color = !flagBool(flags, "no-color");
  if (flagBool(flags, "version")) {
    logger.info(versionString());
    return;
  }
  const levelName = flagString(flags, "log-level");
  const level = parseLogLevel(levelName);
  if (!level) {
    throw new LifecycleError(ExitCode.Failed, `failed to parse log level: not a valid log level: ${JSON.stringify(levelName)}`);
  }
  logger.level = level;
  logger.debug(`Starting ${command.name}...`);
  for (const arg of flags.args) {
    if (arg.startsWith("-")) {
      logger.warn(
        `unconsumed flag-like positional arg: \n\t${arg}\n\t This will not be interpreted as a flag.\n\t Did you mean to put this before the first positional argument?`,
      );
    }
  }
  const ctx: CommandContext = { api, env, logger, flags, cwd: process.cwd() };
  logger.debug("Parsing inputs...");
  const inputs = await command.args(ctx);
  logger.debug("Ensuring privileges...");
  const runtime = await command.privileges(inputs, ctx);
  logger.debug("Executing command...");
  await command.exec(inputs, runtime, ctx);
}

/** The usage text of a phase at a Platform API (for `-help` and flag errors). */
export function commandUsage<Inputs, Runtime>(command: PhaseCommand<Inputs, Runtime>, api: ApiVersion): string {
  return new GoFlagSet(command.name, [...COMMON_FLAGS, ...command.flags], api, command.argsSynopsis).usage();
}

/**
 * The output image and extra tags of the exporter and rebaser (`<image> [<image>...]`): at least one
 * argument (exit 3), and a non-empty first one.
 */
export function imageArgs(ctx: CommandContext): { outputImage: string; tags: string[] } {
  const [outputImage, ...tags] = ctx.flags.args;
  if (outputImage === undefined) {
    throw new LifecycleError(ExitCode.InvalidArgs, "failed to parse arguments: at least one image argument is required");
  }
  if (outputImage === "") throw new LifecycleError(ExitCode.InvalidArgs, "failed to resolve inputs: image argument is required");
  return { outputImage, tags };
}
