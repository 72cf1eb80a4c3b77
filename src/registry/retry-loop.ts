import type { Logger } from "../log/logger.js";
import { isTransient } from "./errors.js";
import { delayFor, sleep, type RetryPolicy } from "./retry.js";

/** A failed attempt that will be retried, as reported to {@link RetryLoopOptions.onRetry}. */
export interface RetryEvent {
  /** The attempt that failed (1-based). */
  readonly attempt: number;
  readonly attempts: number;
  readonly delayMs: number;
  readonly error: unknown;
}

/** How one retry owner decides and waits. */
export interface RetryLoopOptions {
  /** Total attempts including the first (1 = no retry). */
  readonly attempts: number;
  /** Whether a failure may be retried at all. */
  readonly retryable: (err: unknown) => boolean;
  /** Milliseconds to wait before retry number `retry` (1-based); may throw to give up with another error. */
  readonly delayMs: (retry: number, err: unknown) => number;
  /** Ends the loop: no retry after an abort, and a pending wait is cancelled. */
  readonly signal?: AbortSignal;
  /** Called before each wait (for log lines). */
  readonly onRetry?: (event: RetryEvent) => void;
}

/**
 * The attempts of one operation: after each failure, either rethrows it (not retryable, attempts
 * used up, aborted) or waits before the next attempt. For loops that cannot be one callback (a
 * stream that resumes inside a generator); everything else uses {@link retryLoop}.
 */
export class RetryCounter {
  private current = 1;

  constructor(private readonly options: RetryLoopOptions) {}

  /** The attempt in progress (1-based). */
  get attempt(): number {
    return this.current;
  }

  /** After a failed attempt: rethrows `err` unless it may be retried, else waits for the next attempt. */
  async failed(err: unknown): Promise<void> {
    const { attempts, retryable, delayMs, signal, onRetry } = this.options;
    if (signal?.aborted || this.current >= attempts || !retryable(err)) throw err;
    const delay = delayMs(this.current, err);
    onRetry?.({ attempt: this.current, attempts, delayMs: delay, error: err });
    this.current++;
    await sleep(delay, signal);
  }
}

/** Runs `fn` until it succeeds or {@link RetryCounter.failed} gives up; `fn` gets the attempt number. */
export async function retryLoop<T>(fn: (attempt: number) => Promise<T>, options: RetryLoopOptions): Promise<T> {
  const counter = new RetryCounter(options);
  for (;;) {
    try {
      return await fn(counter.attempt);
    } catch (err) {
      await counter.failed(err);
    }
  }
}

/**
 * The transport's retry of transient faults under `policy`: temporary registry and network errors,
 * jittered exponential backoff, `Retry-After` honoured up to the cap (a RateLimitError beyond it).
 */
export function transientRetry(policy: RetryPolicy, registry: string, signal?: AbortSignal, logger?: Logger): RetryLoopOptions {
  return {
    attempts: policy.attempts,
    retryable: isTransient,
    delayMs: (retry, err) => delayFor(policy, retry, err, registry),
    signal,
    onRetry: logger
      ? ({ attempt, attempts, delayMs, error }) =>
          logger.debug(`Retrying in ${delayMs}ms (attempt ${attempt + 1}/${attempts}) after: ${error instanceof Error ? error.message : String(error)}`)
      : undefined,
  };
}
