/**
 * One run of an async task that several callers wait for (a ping, a token fetch). Each caller
 * waits with its own signal; the task itself is aborted only when every caller has given up, so
 * one caller's abort or time limit never fails the others.
 */
export class SharedTask<T> {
  private readonly controller = new AbortController();
  private readonly result: Promise<T>;
  private waiting = 0;
  private settled = false;

  constructor(run: (signal: AbortSignal) => Promise<T>) {
    this.result = run(this.controller.signal);
    this.result.then(
      () => (this.settled = true),
      () => (this.settled = true),
    );
  }

  /** The task's own outcome, for bookkeeping by its owner (does not count as waiting for it). */
  get outcome(): Promise<T> {
    return this.result;
  }

  /** Whether the task was aborted because nobody waited any more (join a new one instead). */
  get abandoned(): boolean {
    return this.controller.signal.aborted;
  }

  /** Waits for the task's result, or rejects with `signal`'s reason when it aborts first. */
  join(signal?: AbortSignal): Promise<T> {
    if (!signal) {
      this.waiting++;
      return this.result.finally(() => this.waiting--);
    }
    if (signal.aborted) return Promise.reject(reasonOf(signal));
    this.waiting++;
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => {
        this.waiting--;
        reject(reasonOf(signal));
        if (this.waiting === 0 && !this.settled) this.controller.abort(reasonOf(signal));
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.result.then(
        (value) => {
          signal.removeEventListener("abort", onAbort);
          if (signal.aborted) return;
          this.waiting--;
          resolve(value);
        },
        (err: unknown) => {
          signal.removeEventListener("abort", onAbort);
          if (signal.aborted) return;
          this.waiting--;
          reject(err instanceof Error ? err : new Error(String(err)));
        },
      );
    });
  }
}

function reasonOf(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error("aborted");
}
