// A FIFO concurrency limiter: layer builds (one per core by default), blob uploads, extractions.
import { availableParallelism } from "node:os";

/** Runs tasks with at most `max` of them in flight. */
export interface Limiter {
  readonly max: number;
  run<T>(task: () => Promise<T>): Promise<T>;
}

/** Default number of layers built at once: one per core. */
export function defaultLayerConcurrency(): number {
  return Math.max(1, availableParallelism());
}

/** A FIFO limiter allowing `max` concurrent tasks (default: one per core). */
export function createLimiter(max: number = defaultLayerConcurrency()): Limiter {
  if (!Number.isInteger(max) || max < 1) throw new RangeError(`limiter max must be a positive integer, got ${max}`);
  let active = 0;
  const waiting: (() => void)[] = [];
  // A finishing task hands its slot straight to the next waiter, so `active` never exceeds `max`.
  const release = (): void => {
    const next = waiting.shift();
    if (next) next();
    else active--;
  };
  return {
    max,
    async run<T>(task: () => Promise<T>): Promise<T> {
      if (active >= max) await new Promise<void>((resolve) => waiting.push(resolve));
      else active++;
      try {
        return await task();
      } finally {
        release();
      }
    },
  };
}
