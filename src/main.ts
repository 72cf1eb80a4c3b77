import { basename, extname } from "node:path";
import { writeSync } from "node:fs";
import { isSea } from "node:sea";
import { commandUsage, runCommand } from "./cmd/command.js";
import { FlagError, HelpRequested, parseGoBool } from "./cmd/go-flags.js";
import { OTHER_PHASES, PHASES, VALID_VERBS, type PhaseEntry } from "./cmd/phases.js";
import { DefaultLogger, stdoutSink } from "./log/logger.js";
import type { ApiVersion } from "./platform/api-version.js";
import { errorMessage, exitCodeOf, LifecycleError } from "./platform/errors.js";
import { ExitCode, type ExitCodeValue } from "./platform/exit-codes.js";
import { negotiatePlatformApi } from "./platform/platform-api.js";
import { versionString } from "./version.js";

function isSingleExecutable(): boolean {
  try {
    return isSea();
  } catch {
    return false;
  }
}

/** The name this process was invoked as (symlink name, not the resolved file), without extension. */
function invokedName(): string {
  const raw = isSingleExecutable() ? process.argv0 : (process.argv[1] ?? "");
  const base = basename(raw);
  return base.slice(0, base.length - extname(base).length);
}

function writeStderr(text: string): void {
  try {
    writeSync(2, text.endsWith("\n") ? text : `${text}\n`);
  } catch {
    // nothing sensible to do when stderr is gone
  }
}

function notImplemented(verb: string): LifecycleError {
  return new LifecycleError(ExitCode.Failed, `failed to ${verb}: phase '${verb}' is not implemented by this lifecycle`);
}

/** The exit code of each phase's own failures (contract §1.7). */
const PHASE_FAILURE: Readonly<Record<string, ExitCodeValue>> = {
  analyzer: ExitCode.AnalyzeError,
  restorer: ExitCode.RestoreError,
  exporter: ExitCode.ExportError,
  rebaser: ExitCode.RebaseError,
};

/**
 * Backstop: a promise that rejects with nobody awaiting it is a bug, but it must still end the
 * phase with one `ERROR:` line and the phase's exit code, not Node's stack trace and exit 1.
 * (Temp dirs it leaves behind are removed by the next export's stale-dir cleanup.)
 */
function failOnStrayRejection(entry: PhaseEntry, logger: DefaultLogger): void {
  process.on("unhandledRejection", (reason) => {
    logger.error(`failed to ${entry.verb}: unexpected failure: ${errorMessage(reason)}`);
    if (logger.isDebug() && reason instanceof Error && reason.stack) logger.debug(reason.stack);
    process.exit(PHASE_FAILURE[entry.binary] ?? ExitCode.Failed);
  });
}

/** Dispatches by binary name or `lifecycle <phase>` and returns the process exit code. */
async function main(): Promise<number> {
  const env = process.env;
  const logger = new DefaultLogger({ color: parseGoBool(env.CNB_NO_COLOR ?? "") !== true, sink: stdoutSink });
  const userArgs = process.argv.slice(2);
  const invoked = invokedName();
  let entry: PhaseEntry | undefined;
  let api: ApiVersion | undefined;
  try {
    let argv = userArgs;
    entry = PHASES.find((p) => p.binary === invoked);
    if (!entry) {
      const other = OTHER_PHASES.get(invoked);
      if (other !== undefined) throw notImplemented(other);
      const first = userArgs[0];
      if (first === undefined) throw new LifecycleError(ExitCode.InvalidArgs, "failed to parse arguments");
      if (first === "-version") {
        stdoutSink(`${versionString()}\n`);
        return ExitCode.Success;
      }
      const verb = basename(first);
      entry = PHASES.find((p) => p.verb === verb);
      if (!entry) {
        if (VALID_VERBS.includes(verb)) throw notImplemented(verb);
        throw new LifecycleError(
          ExitCode.InvalidArgs,
          `failed to recognize phase: ${verb}\nvalid phases: ${VALID_VERBS.join(", ")}`,
        );
      }
      argv = userArgs.slice(1);
    }
    api = negotiatePlatformApi(env, logger);
    failOnStrayRejection(entry, logger);
    const command = await entry.load();
    await runCommand(command, argv, api, env, logger);
    return ExitCode.Success;
  } catch (err) {
    if ((err instanceof HelpRequested || err instanceof FlagError) && entry && api) {
      const usage = commandUsage(await entry.load(), api);
      if (err instanceof HelpRequested) {
        writeStderr(usage);
        return ExitCode.Success;
      }
      writeStderr(`${err.message}\n${usage}`);
      return ExitCode.InvalidFlags;
    }
    logger.error(errorMessage(err));
    if (!(err instanceof LifecycleError) && logger.isDebug() && err instanceof Error && err.stack) {
      logger.debug(err.stack);
    }
    return exitCodeOf(err);
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    writeStderr(`ERROR: ${errorMessage(err)}`);
    process.exit(ExitCode.Failed);
  },
);
