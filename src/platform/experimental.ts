import type { Logger } from "../log/logger.js";
import { LifecycleError } from "./errors.js";
import { ExitCode } from "./exit-codes.js";

/** `CNB_EXPERIMENTAL_MODE`: unset means `error`; `silent` is accepted as `quiet`; unknown values act as `warn` (contract §9 #3). */
export function experimentalMode(env: NodeJS.ProcessEnv): "quiet" | "warn" | "error" {
  const v = (env.CNB_EXPERIMENTAL_MODE ?? "").toLowerCase();
  if (v === "" || v === "error") return "error";
  if (v === "quiet" || v === "silent") return "quiet";
  return "warn";
}

/** Refuses (exit 1) or warns about an experimental feature, as the platform's experimental mode says. */
export function guardExperimental(feature: string, env: NodeJS.ProcessEnv, logger: Logger): void {
  const mode = experimentalMode(env);
  if (mode === "quiet") return;
  if (mode === "warn") {
    logger.warn(`Platform requested experimental feature '${feature}'`);
    return;
  }
  logger.error(`Platform requested experimental feature '${feature}'`);
  throw new LifecycleError(ExitCode.Failed, "experimental features are disabled by CNB_EXPERIMENTAL_MODE=error");
}
