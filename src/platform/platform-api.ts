import { ApiVersion } from "./api-version.js";
import apis from "./apis.json" with { type: "json" };
import { LifecycleError } from "./errors.js";
import { ExitCode } from "./exit-codes.js";
import type { Logger } from "../log/logger.js";

/** Platform API versions this lifecycle implements, oldest first. */
export const SUPPORTED_PLATFORM_APIS: readonly ApiVersion[] = apis.platform.supported.map((v) => ApiVersion.must(v));
/** Platform API versions still accepted but deprecated. */
export const DEPRECATED_PLATFORM_APIS: readonly ApiVersion[] = apis.platform.deprecated.map((v) => ApiVersion.must(v));
/** Buildpack API versions accepted in group.toml. */
export const SUPPORTED_BUILDPACK_APIS: readonly ApiVersion[] = apis.buildpack.supported.map((v) => ApiVersion.must(v));
export const DEPRECATED_BUILDPACK_APIS: readonly ApiVersion[] = apis.buildpack.deprecated.map((v) => ApiVersion.must(v));

type DeprecationMode = "quiet" | "warn" | "error";

function deprecationMode(env: NodeJS.ProcessEnv): DeprecationMode {
  const v = env.CNB_DEPRECATION_MODE?.toLowerCase();
  if (v === "quiet" || v === "silent") return "quiet";
  if (v === "error") return "error";
  return "warn";
}

function supportedBy(list: readonly ApiVersion[], requested: ApiVersion): boolean {
  return list.some((s) => s.supports(requested));
}

/** Reads and verifies `CNB_PLATFORM_API` (contract §1.4); throws exit 11 with the Go lifecycle's messages. */
export function negotiatePlatformApi(env: NodeJS.ProcessEnv, logger?: Logger): ApiVersion {
  const raw = env.CNB_PLATFORM_API ?? "";
  if (raw.trim() === "") {
    throw new LifecycleError(
      ExitCode.IncompatiblePlatformAPI,
      "failed to get platform API version; please set 'CNB_PLATFORM_API' to specify the desired platform API version",
    );
  }
  const requested = ApiVersion.parse(raw.trim());
  if (!requested) {
    throw new LifecycleError(ExitCode.IncompatiblePlatformAPI, `failed to parse platform API '${raw}'`);
  }
  if (supportedBy(DEPRECATED_PLATFORM_APIS, requested)) {
    const mode = deprecationMode(env);
    const msg = `Platform requested deprecated API '${requested.toString()}'`;
    if (mode === "error") {
      throw new LifecycleError(ExitCode.IncompatiblePlatformAPI, `failed to set platform API: ${msg}`);
    }
    if (mode === "warn") logger?.warn(msg);
    return requested;
  }
  if (!supportedBy(SUPPORTED_PLATFORM_APIS, requested)) {
    throw new LifecycleError(
      ExitCode.IncompatiblePlatformAPI,
      `failed to set platform API: platform API version '${raw.trim()}' is incompatible with the lifecycle`,
    );
  }
  return requested;
}

/** Verifies a buildpack's API from group.toml (contract §1.4 item 5); throws exit 12. */
export function verifyBuildpackApi(
  kind: "buildpack" | "extension",
  id: string,
  version: string,
  api: string,
  env: NodeJS.ProcessEnv,
  logger?: Logger,
): ApiVersion {
  const fail = (detail: string) =>
    new LifecycleError(
      ExitCode.IncompatibleBuildpackAPI,
      `failed to set API for ${kind} '${id}@${version}': ${detail}`,
    );
  const requested = ApiVersion.parse(api);
  if (!requested) throw fail(`failed to parse ${kind} API '${api}'`);
  if (supportedBy(DEPRECATED_BUILDPACK_APIS, requested)) {
    const mode = deprecationMode(env);
    if (mode === "error") throw fail(`${kind} API version '${api}' is deprecated`);
    if (mode === "warn") logger?.warn(`Buildpack '${id}@${version}' requests deprecated API '${api}'`);
    return requested;
  }
  if (!supportedBy(SUPPORTED_BUILDPACK_APIS, requested)) {
    throw fail(`${kind} API version '${api}' is incompatible with the lifecycle`);
  }
  return requested;
}
