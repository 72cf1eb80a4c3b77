// Pure path rules for layer extraction. Entry names live in the archive's absolute namespace
// ("virtual" paths such as /layers/acme_node/node/bin/x); they are checked here before anything
// touches the filesystem, and mapped under the extraction root only afterwards.
import { posix } from "node:path";
import { refuse } from "./extract-error.js";

/**
 * Checks an absolute tar entry name and returns it without a directory's trailing slash. Relative
 * names and names with `..`, `.` or empty components (`//`) are refused rather than normalised, so
 * what is checked is exactly what gets written.
 */
export function checkEntryName(raw: string, isDirectory: boolean): string {
  if (!raw.startsWith("/")) throw refuse("UNSAFE_PATH", raw, "entry name is not an absolute path");
  let name = raw;
  if (isDirectory && name.length > 1 && name.endsWith("/")) name = name.slice(0, -1);
  if (name === "/") return name;
  for (const part of name.slice(1).split("/")) {
    if (part === "..") throw refuse("UNSAFE_PATH", raw, 'path contains a ".." component');
    if (part === "" || part === ".") throw refuse("UNSAFE_PATH", raw, 'path contains an empty or "." component');
  }
  return name;
}

/** Checks a caller-supplied absolute directory (same rules as entry names). */
export function checkDirectoryOption(option: string, value: string): string {
  try {
    return checkEntryName(value, true);
  } catch {
    throw new TypeError(`${option} must be a normalised absolute path, got ${JSON.stringify(value)}`);
  }
}

/** Whether `path` lies strictly inside directory `dir` (both normalised absolute paths). */
export function isInside(path: string, dir: string): boolean {
  if (dir === "/") return path !== "/";
  return path.startsWith(dir) && path.charCodeAt(dir.length) === 0x2f;
}

/** Whether `path` is `dir` itself or one of its ancestors. */
export function isAncestorOrSelf(path: string, dir: string): boolean {
  return path === dir || isInside(dir, path);
}

/**
 * Why a symlink entry `name` -> `target` is unsafe for `scope`, or undefined when it is fine.
 * The target is resolved lexically (relative to the link's directory, or as an absolute path in the
 * archive's namespace) and must be `scope` or inside it. So that lexical and kernel resolution agree
 * even when the target path crosses other symlinks, `..` is only accepted as a leading run in
 * relative targets and never in absolute ones. A scope of `/` accepts any target.
 */
export function symlinkTargetProblem(name: string, target: string, scope: string): string | undefined {
  if (target === "") return "symlink has an empty target";
  if (target.includes("\0")) return "symlink target contains a NUL byte";
  if (scope === "/") return undefined;
  const absolute = target.startsWith("/");
  let leading = !absolute;
  for (const part of target.split("/")) {
    if (part === "" || part === ".") continue;
    if (part !== "..") leading = false;
    else if (!leading) return `symlink target ${JSON.stringify(target)} uses ".." after a path component`;
  }
  const resolved = absolute ? posix.normalize(target) : posix.join(posix.dirname(name), target);
  const normalised = resolved.length > 1 && resolved.endsWith("/") ? resolved.slice(0, -1) : resolved;
  if (normalised === scope || isInside(normalised, scope)) return undefined;
  return `symlink target ${JSON.stringify(target)} points outside ${JSON.stringify(scope)}`;
}
