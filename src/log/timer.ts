import type { Logger } from "./logger.js";

/** A Go-style duration string (`1.5s`, `250.3ms`). */
export function formatDuration(ms: number): string {
  if (ms >= 1000) return `${(ms / 1000).toFixed(3).replace(/\.?0+$/, "")}s`;
  return `${ms.toFixed(3).replace(/\.?0+$/, "")}ms`;
}

/** Runs `fn` between the Go lifecycle's debug `Timer:` lines for a phase. */
export async function withTimer<T>(logger: Logger, phase: string, fn: () => Promise<T>): Promise<T> {
  const start = new Date();
  logger.debug(`Timer: ${phase} started at ${start.toISOString()}`);
  try {
    return await fn();
  } finally {
    const end = new Date();
    logger.debug(`Timer: ${phase} ran for ${formatDuration(end.getTime() - start.getTime())} and ended at ${end.toISOString()}`);
  }
}
