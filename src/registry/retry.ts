import { RateLimitError, RegistryError } from "./errors.js";

/** How the transport retries transient failures of one request. */
export interface RetryPolicy {
  /** Total attempts including the first (1 = no retry). */
  readonly attempts: number;
  /** Delay before the first retry; doubles each time. */
  readonly baseDelayMs: number;
  /** Upper bound of a computed backoff delay. */
  readonly maxDelayMs: number;
  /** Longest `Retry-After` we wait; beyond it the request fails with a RateLimitError. */
  readonly maxRetryAfterMs: number;
}

/** Default: 5 attempts, 250 ms doubling with ±50 % jitter, capped at 10 s; `Retry-After` up to 60 s. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  attempts: 5,
  baseDelayMs: 250,
  maxDelayMs: 10_000,
  maxRetryAfterMs: 60_000,
};

/** No retries at all: for requests whose caller owns the retry (e.g. `openRemoteImage`). */
export const NO_RETRY: RetryPolicy = { ...DEFAULT_RETRY_POLICY, attempts: 1 };

/** The delay before retry number `retry` (1-based): exponential with ±50 % jitter. */
export function backoffDelay(policy: RetryPolicy, retry: number, random: () => number = Math.random): number {
  const exp = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (retry - 1));
  return Math.round(exp * (0.5 + random()));
}

/** Parses a `Retry-After` header (delta seconds or an HTTP date) into milliseconds. */
export function parseRetryAfter(value: string | undefined, now: number = Date.now()): number | undefined {
  if (value === undefined || value.trim() === "") return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

/**
 * How long to wait before retrying after `err`: the server's `Retry-After` when given (throws a
 * RateLimitError when it exceeds the policy's cap), else exponential backoff.
 */
export function delayFor(policy: RetryPolicy, retry: number, err: unknown, registry: string): number {
  if (err instanceof RegistryError && err.retryAfterMs !== undefined) {
    if (err.retryAfterMs > policy.maxRetryAfterMs) throw new RateLimitError(registry, err.retryAfterMs, err);
    // a little jitter on top so that clients told the same time do not return together
    return err.retryAfterMs + Math.round(Math.random() * Math.min(1000, err.retryAfterMs * 0.1));
  }
  return backoffDelay(policy, retry);
}

/** Resolves after `ms`, or rejects at once when `signal` aborts (a pending backoff is cancellable). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason instanceof Error ? signal.reason : new Error("aborted"));
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason instanceof Error ? signal.reason : new Error("aborted"));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
