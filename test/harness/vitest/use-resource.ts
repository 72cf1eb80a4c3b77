import { afterAll, afterEach, beforeAll } from "vitest";

/** Options for `useResource`. */
export interface UseResourceOptions<T> {
  /** Text printed (its last 60 lines) when a test of the suite fails, e.g. a server log. */
  logOnFailure?: (resource: T) => string;
}

/**
 * Starts a resource in `beforeAll` and stops it in `afterAll` (also when tests fail); returns an
 * accessor that throws when used outside the suite's lifetime.
 */
export function useResource<T extends { stop(): Promise<void> }>(
  name: string,
  start: () => Promise<T>,
  options: UseResourceOptions<T> = {},
): () => T {
  let resource: T | undefined;
  beforeAll(async () => {
    resource = await start();
  });
  afterAll(async () => {
    const started = resource;
    resource = undefined;
    await started?.stop();
  });
  const logOnFailure = options.logOnFailure;
  if (logOnFailure) {
    afterEach((context) => {
      if (resource && context.task.result?.state === "fail") {
        const lines = logOnFailure(resource).split("\n").slice(-60).join("\n");
        console.error(`--- ${name} log (last 60 lines) ---\n${lines}`);
      }
    });
  }
  return () => {
    if (!resource) throw new Error(`${name} is only available between beforeAll and afterAll`);
    return resource;
  };
}
