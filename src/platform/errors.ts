import { ExitCode, type ExitCodeValue } from "./exit-codes.js";

/** An error that ends the process with a specific exit code; its message is printed as `ERROR: <message>`. */
export class LifecycleError extends Error {
  readonly exitCode: ExitCodeValue;

  constructor(exitCode: ExitCodeValue, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "LifecycleError";
    this.exitCode = exitCode;
  }
}

/** Wraps `cause` as `failed to <action>: <cause>` with the given exit code (Go lifecycle's `cmd.FailErr`). */
export function failErr(exitCode: ExitCodeValue, action: string, cause: unknown): LifecycleError {
  return new LifecycleError(exitCode, `failed to ${action}: ${errorMessage(cause)}`, { cause });
}

/** The message of any thrown value, without a stack trace. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** The exit code a thrown value should produce: its own for a LifecycleError, else 1. */
export function exitCodeOf(err: unknown): ExitCodeValue {
  return err instanceof LifecycleError ? err.exitCode : ExitCode.Failed;
}
