/** A caller's signal combined with a time limit; `clear()` stops the clock (the caller's signal still counts). */
export interface Deadline {
  /** Aborts when the caller's signal does, or with the timeout error when the time is up. */
  readonly signal: AbortSignal | undefined;
  /** Whether the time ran out (rather than the caller aborting). */
  readonly expired: boolean;
  clear(): void;
}

/** Starts a deadline of `timeoutMs` (none when undefined) on top of `signal`. */
export function startDeadline(signal: AbortSignal | undefined, timeoutMs: number | undefined, timeoutError: () => Error): Deadline {
  if (timeoutMs === undefined) return { signal, expired: false, clear: () => undefined };
  const clock = new AbortController();
  const timer = setTimeout(() => clock.abort(timeoutError()), timeoutMs);
  return {
    signal: signal ? AbortSignal.any([signal, clock.signal]) : clock.signal,
    get expired() {
      return clock.signal.aborted;
    },
    clear: () => clearTimeout(timer),
  };
}
