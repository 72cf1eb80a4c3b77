// The retry layer alone (pure logic, fake timers): the one loop every retry owner uses, and the
// transport's policy for transient faults.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { NetworkError, RateLimitError, RegistryError } from "../../src/registry/errors.js";
import { retryLoop, RetryCounter, transientRetry, type RetryEvent, type RetryLoopOptions } from "../../src/registry/retry-loop.js";
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from "../../src/registry/retry.js";

const registryError = (status: number, retryAfterMs?: number, codes: string[] = []) =>
  new RegistryError("GET", "http://r.example/v2/x/manifests/latest", status, codes.map((code) => ({ code, message: "" })), "", retryAfterMs);

/** Runs `fn` under `options`, recording each attempt and each announced wait. */
function recorded(options: Omit<RetryLoopOptions, "onRetry">, failures: Error[]) {
  const attempts: number[] = [];
  const waits: RetryEvent[] = [];
  const result = retryLoop(
    (attempt) => {
      attempts.push(attempt);
      const failure = failures[attempt - 1];
      return failure === undefined ? Promise.resolve(`ok after ${attempt}`) : Promise.reject(failure);
    },
    { ...options, onRetry: (e) => waits.push(e) },
  );
  return { result, attempts, waits };
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe("retryLoop", () => {
  const always = { retryable: () => true, delayMs: (retry: number) => retry * 100 };

  it("retries until an attempt succeeds, waiting the given delay before each retry", async () => {
    const run = recorded({ attempts: 5, ...always }, [new Error("a"), new Error("b")]);
    await vi.advanceTimersByTimeAsync(99);
    expect(run.attempts).toEqual([1]);
    await vi.advanceTimersByTimeAsync(1);
    expect(run.attempts).toEqual([1, 2]);
    await vi.advanceTimersByTimeAsync(200);
    await expect(run.result).resolves.toBe("ok after 3");
    expect(run.waits.map((w) => [w.attempt, w.attempts, w.delayMs, (w.error as Error).message])).toEqual([
      [1, 5, 100, "a"],
      [2, 5, 200, "b"],
    ]);
  });

  it("rethrows the last failure after the last attempt", async () => {
    const run = recorded({ attempts: 3, ...always }, ["1", "2", "3", "4"].map((m) => new Error(m)));
    const settled = run.result.catch((e: unknown) => e);
    await vi.runAllTimersAsync();
    expect(((await settled) as Error).message).toBe("3");
    expect(run.attempts).toEqual([1, 2, 3]);
  });

  it("makes exactly one attempt with attempts: 1", async () => {
    const run = recorded({ attempts: 1, ...always }, [new Error("once")]);
    await expect(run.result).rejects.toThrow("once");
    expect(run.attempts).toEqual([1]);
    expect(run.waits).toEqual([]);
  });

  it("does not retry a failure that is not retryable", async () => {
    const run = recorded({ attempts: 5, retryable: (e) => (e as Error).message !== "fatal", delayMs: () => 1 }, [new Error("fatal")]);
    await expect(run.result).rejects.toThrow("fatal");
    expect(run.attempts).toEqual([1]);
  });

  it("cancels a pending wait when the signal aborts, and rejects with the abort reason", async () => {
    const controller = new AbortController();
    const run = recorded({ attempts: 5, retryable: () => true, delayMs: () => 60_000, signal: controller.signal }, [new Error("503")]);
    const settled = run.result.catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(1000);
    controller.abort(new Error("caller gave up"));
    expect(((await settled) as Error).message).toBe("caller gave up");
    expect(run.attempts).toEqual([1]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("does not retry once the signal has aborted", async () => {
    const controller = new AbortController();
    controller.abort();
    const counter = new RetryCounter({ attempts: 5, retryable: () => true, delayMs: () => 1, signal: controller.signal });
    await expect(counter.failed(new Error("in flight when aborted"))).rejects.toThrow("in flight when aborted");
    expect(counter.attempt).toBe(1);
  });
});

describe("transientRetry (the transport's retry layer)", () => {
  const FAST: RetryPolicy = { attempts: 5, baseDelayMs: 100, maxDelayMs: 1000, maxRetryAfterMs: 60_000 };
  const retryable = transientRetry(FAST, "r.example").retryable;

  it("retries 408, 429, 5xx, 499, 522, registry codes that say so, and transient network errors", () => {
    expect([408, 429, 499, 500, 502, 503, 504, 522].map((s) => retryable(registryError(s)))).toEqual(Array(8).fill(true));
    expect(retryable(registryError(409, undefined, ["TOOMANYREQUESTS"]))).toBe(true);
    expect(retryable(new NetworkError("GET", "u", "ECONNRESET", "reset"))).toBe(true);
    expect(retryable(new NetworkError("GET", "u", "ETIMEDOUT", "no response within 10 ms"))).toBe(true);
  });

  it("never retries 400, 401, 403, 404, 405, certificate failures or other errors", () => {
    expect([400, 401, 403, 404, 405].map((s) => retryable(registryError(s, undefined, ["UNKNOWN"])))).toEqual(Array(5).fill(false));
    expect(retryable(new NetworkError("GET", "u", "SELF_SIGNED_CERT_IN_CHAIN", "self-signed"))).toBe(false);
    expect(retryable(new Error("image has no layers"))).toBe(false);
  });

  it("waits the server's Retry-After (plus a little jitter) when it is within the cap", () => {
    const delay = transientRetry(FAST, "r.example").delayMs(1, registryError(429, 3000));
    expect(delay).toBeGreaterThanOrEqual(3000);
    expect(delay).toBeLessThanOrEqual(3300);
  });

  it("fails with a RateLimitError naming the registry when Retry-After exceeds the cap", () => {
    const delayMs = transientRetry(DEFAULT_RETRY_POLICY, "r.example").delayMs;
    expect(() => delayMs(1, registryError(429, 61_000))).toThrow(RateLimitError);
    expect(() => delayMs(1, registryError(429, 61_000))).toThrow(/^registry r\.example is rate limiting requests and asked to retry after 61s/);
  });

  it("backs off exponentially with ±50 % jitter, capped", () => {
    const { delayMs } = transientRetry(FAST, "r.example");
    const err = registryError(503);
    for (let i = 0; i < 20; i++) {
      expect(delayMs(1, err)).toBeGreaterThanOrEqual(50);
      expect(delayMs(1, err)).toBeLessThanOrEqual(150);
      expect(delayMs(3, err)).toBeGreaterThanOrEqual(200);
      expect(delayMs(3, err)).toBeLessThanOrEqual(600);
      expect(delayMs(10, err)).toBeLessThanOrEqual(1500);
    }
  });

  it("makes at most the policy's attempts through retryLoop, waiting between them", async () => {
    let calls = 0;
    const settled = retryLoop(() => {
      calls++;
      return Promise.reject(registryError(503));
    }, transientRetry(FAST, "r.example")).catch((e: unknown) => e);
    await vi.runAllTimersAsync();
    expect(await settled).toBeInstanceOf(RegistryError);
    expect(calls).toBe(FAST.attempts);
  });
});
