import { isAbsolute, resolve } from "node:path";
import type { Logger } from "../log/logger.js";
import { errorMessage, failErr, LifecycleError } from "./errors.js";
import { ExitCode } from "./exit-codes.js";
import { readAnalyzedIfExists, type Analyzed } from "./files/analyzed.js";
import { readGroupToml, type GroupToml } from "./files/group.js";
import { buildpackDirName } from "./files/layer-names.js";
import { verifyBuildpackApi } from "./platform-api.js";
import { Reference } from "../registry/reference.js";

/** The placeholder for the layers directory in default paths (`<layers>/analyzed.toml`). */
export const LAYERS_PLACEHOLDER = "<layers>";

/**
 * Replaces `<layers>` with the final layers directory (Go `UpdatePlaceholderPaths`): with an empty
 * layers dir (Tekton's `-layers=`) `<layers>/x` becomes the relative `x`.
 */
export function substituteLayers(path: string, layersDir: string): string {
  if (!path.includes(LAYERS_PLACEHOLDER)) return path;
  if (layersDir === "") return path.replace(`${LAYERS_PLACEHOLDER}/`, "");
  return path.replace(LAYERS_PLACEHOLDER, layersDir);
}

/** Makes a directory input absolute against `cwd` (empty stays empty), like Go `filepath.Abs`. */
export function absoluteDir(dir: string, cwd: string): string {
  if (dir === "") return dir;
  return isAbsolute(dir) ? resolve(dir) : resolve(cwd, dir);
}

/** Every non-empty reference must parse (ggcr weak validation); exit 3 otherwise. */
export function validateReferences(refs: readonly string[]): void {
  for (const ref of refs) {
    if (ref === "") continue;
    try {
      Reference.parse(ref);
    } catch (err) {
      throw new LifecycleError(ExitCode.InvalidArgs, `failed to resolve inputs: ${errorMessage(err)}`);
    }
  }
}

/** Output image and tags must live on one registry unless exporting to a daemon (exit 3). */
export function validateSameRegistry(refs: readonly string[]): void {
  const registries = new Set(refs.filter((r) => r !== "").map((r) => Reference.parse(r).registry));
  if (registries.size > 1) {
    throw new LifecycleError(ExitCode.InvalidArgs, "failed to resolve inputs: writing to multiple registries is unsupported");
  }
}

/**
 * Reads group.toml (failure: exit 1) and verifies every buildpack and extension API (exit 12). A
 * buildpack ID that cannot be a directory name under the layers dir (`..`) is a read failure.
 */
export async function readVerifiedGroup(path: string, env: NodeJS.ProcessEnv, logger: Logger): Promise<GroupToml> {
  let group: GroupToml;
  try {
    group = await readGroupToml(path);
    for (const bp of group.group) buildpackDirName(bp.id);
  } catch (err) {
    throw failErr(ExitCode.Failed, "read group file", err);
  }
  for (const bp of group.group) verifyBuildpackApi("buildpack", bp.id, bp.version, bp.api, env, logger);
  for (const ext of group.groupExtensions) verifyBuildpackApi("extension", ext.id, ext.version, ext.api, env, logger);
  return group;
}

/**
 * The exporter's run image from analyzed.toml (contract §2.3 step 2; failures exit 3): a file that
 * does not parse is reported with its parse error, which names the file; a missing file or an
 * empty `[run-image] reference` is `run image not found in analyzed metadata`.
 */
export async function readExportRunImage(path: string, onMissing?: () => void): Promise<{ analyzed: Analyzed | undefined; runImageRef: string }> {
  let analyzed: Analyzed | undefined;
  try {
    analyzed = await readAnalyzedIfExists(path);
    if (!analyzed) onMissing?.();
  } catch (err) {
    throw failErr(ExitCode.InvalidArgs, "resolve inputs", err);
  }
  const runImageRef = analyzed?.runImage?.reference ?? "";
  if (runImageRef === "") throw new LifecycleError(ExitCode.InvalidArgs, "failed to resolve inputs: run image not found in analyzed metadata");
  return { analyzed, runImageRef };
}
