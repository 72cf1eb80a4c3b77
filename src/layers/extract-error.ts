// The one error class layer extraction throws for anything it refuses or fails to do. Errors raised
// by the caller's input stream (for example a cache read error or a registry digest mismatch) are
// passed through unchanged instead, so callers can still classify them.

/** Why an extraction failed; stable strings callers may switch on. */
export type ExtractErrorCode =
  /** An entry name is relative or contains `..`, `.` or empty components. */
  | "UNSAFE_PATH"
  /** An entry lies outside the allowed directory. */
  | "OUTSIDE_PREFIX"
  /** A symlink entry points outside the allowed symlink scope. */
  | "UNSAFE_SYMLINK"
  /** An entry would be written through an existing symlink. */
  | "THROUGH_SYMLINK"
  /** Hard links, devices, FIFOs and unknown entry types. */
  | "UNSUPPORTED_TYPE"
  /** A symlink entry's path exists, or a file/directory entry collides with a different kind of file. */
  | "EXISTS"
  /** The input's digest differs from the expected one. */
  | "DIGEST_MISMATCH"
  /** The archive ended in the middle of an entry or without its end-of-archive marker. */
  | "TRUNCATED"
  /** The bytes are not a valid (optionally gzipped) tar archive. */
  | "CORRUPT"
  /** A filesystem operation failed while writing an entry. */
  | "FS"
  /** The extraction failed and removing what it had written failed too. */
  | "CLEANUP_FAILED";

/** An extraction refusal or failure; `entry` names the offending tar entry when there is one. */
export class ExtractError extends Error {
  readonly code: ExtractErrorCode;
  readonly entry: string | undefined;

  constructor(code: ExtractErrorCode, message: string, options?: { entry?: string; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "ExtractError";
    this.code = code;
    this.entry = options?.entry;
  }
}

/** An entry name quoted for a one-line message (control characters escaped). */
export function quoteName(name: string): string {
  return JSON.stringify(name);
}

/** Builds the standard "refusing to extract" error for an entry. */
export function refuse(code: ExtractErrorCode, entry: string, reason: string): ExtractError {
  return new ExtractError(code, `refusing to extract ${quoteName(entry)}: ${reason}`, { entry });
}
