import { errnoCode } from "../util/fs-errors.js";
import { NotRegularFileError } from "../util/regular-file.js";
import { isSha256Digest } from "../oci/digest.js";

// Errors of the volume cache. CacheReadError is the cache-wide "this layer cannot be read" verdict
// (the Go lifecycle's cache.ReadErr): phases skip the layer with a warning instead of failing.

/** A cached layer is missing, unreadable or corrupt; the phase skips it with a warning. */
export class CacheReadError extends Error {
  readonly code = "CACHE_READ";

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "CacheReadError";
  }
}

/** Whether `err` is a cache read error (skip with a warning) rather than a failure. */
export function isCacheReadError(err: unknown): err is CacheReadError {
  return err instanceof CacheReadError;
}

const ERRNO_TEXT: Readonly<Record<string, string>> = {
  ENOENT: "no such file or directory",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EEXIST: "file exists",
  EISDIR: "is a directory",
  ENOTDIR: "not a directory",
  ENOTEMPTY: "directory not empty",
  EXDEV: "invalid cross-device link",
  ENOSPC: "no space left on device",
  EROFS: "read-only file system",
  EIO: "input/output error",
};

/** A Node filesystem error worded like Go's *PathError / *LinkError (`stat /cache: no such file or directory`). */
export function goFsMessage(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const e = err as NodeJS.ErrnoException & { dest?: string };
  if (e.code === undefined || e.syscall === undefined || e.path === undefined) return err.message;
  const text = ERRNO_TEXT[e.code] ?? e.code.toLowerCase();
  return `${e.syscall} ${e.path}${e.dest === undefined ? "" : ` ${e.dest}`}: ${text}`;
}

/** Reading a layer under a malformed diffID (from metadata) is just a layer that cannot be found. */
export function checkReadDiffID(diffID: string): string {
  if (!isSha256Digest(diffID)) throw new CacheReadError(`failed to find cache layer with SHA '${diffID}'`);
  return diffID;
}

/**
 * Go's wording: missing → read error, permission → read error; a path that is not a regular file
 * (FIFO, device, symlink) → read error too; anything else → a plain failure prefixed `otherwise`.
 */
export function readOrOther(err: unknown, diffID: string, otherwise: string): Error {
  const code = errnoCode(err);
  if (code === "ENOENT" || code === "ENOTDIR") {
    return new CacheReadError(`failed to find cache layer with SHA '${diffID}'`, { cause: err });
  }
  if (err instanceof NotRegularFileError) {
    return new CacheReadError(`failed to read cache layer with SHA '${diffID}': ${err.message}`, { cause: err });
  }
  if (code === "EACCES" || code === "EPERM") {
    return new CacheReadError(`failed to read cache layer with SHA '${diffID}' due to insufficient permissions`, { cause: err });
  }
  return new Error(`${otherwise}: ${goFsMessage(err)}`, { cause: err });
}
