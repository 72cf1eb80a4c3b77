// Errors of the Docker Engine API client. One class; `code` says what kind of failure it was so
// callers classify once (absent image, refused load, daemon unreachable, lost privileges).

/** What went wrong talking to the daemon. */
export type DaemonErrorCode =
  /** Nothing answers at DOCKER_HOST, or the connection broke mid-request. */
  | "unreachable"
  /** A new connection after the privilege drop was refused (EACCES/EPERM on the socket). */
  | "reconnect-denied"
  /** The daemon answered 404 (no such image). */
  | "not-found"
  /** The daemon answered with an error (HTTP ≥ 400, or an error inside a 200 stream). */
  | "refused"
  /** The daemon's answer was not what the Engine API documents. */
  | "invalid-response";

/** A failed call to the Docker daemon; the message is one line naming the operation and the daemon's reason. */
export class DaemonError extends Error {
  override name = "DaemonError";

  constructor(
    readonly code: DaemonErrorCode,
    message: string,
    /** The HTTP status, when the daemon answered. */
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(oneLine(message), options);
  }
}

/** Whether `err` is a DaemonError of one of the given codes. */
export function isDaemonError(err: unknown, ...codes: DaemonErrorCode[]): err is DaemonError {
  return err instanceof DaemonError && (codes.length === 0 || codes.includes(err.code));
}

/** Collapses a multi-line daemon message (podman's load errors list one line per format) into one line. */
export function oneLine(text: string): string {
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== "")
    .join("; ");
}
