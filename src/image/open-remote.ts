import type { Logger } from "../log/logger.js";
import { errorMessage } from "../platform/errors.js";
import { statusOf } from "../registry/errors.js";
import { retryLoop } from "../registry/retry-loop.js";
import type { RemoteImage } from "./remote-image.js";
import { isSha256Digest } from "../oci/digest.js";

/** Delays between the six attempts of {@link openRemoteImage} (lifecycle PR #1675). */
export const OPEN_REMOTE_DELAYS_MS: readonly number[] = [100, 200, 500, 1000, 2000];

/** Statuses that fail at once: retrying cannot fix a bad request, missing permission or a rate limit. */
const NOT_RETRIED = new Set([400, 401, 403, 405, 429]);

/** A Go `time.Duration` string for whole milliseconds (`100ms`, `1s`, `1.5s`). */
export function goDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  const s = ms / 1000;
  return `${Number.isInteger(s) ? s : s.toString()}s`;
}

/** Options of {@link openRemoteImage}. */
export interface OpenRemoteOptions {
  readonly delays?: readonly number[];
  readonly signal?: AbortSignal;
}

/**
 * Opens a remote image with the Go lifecycle's whole-operation retry (contract §7): every attempt
 * builds a fresh image (so a bad manifest is never cached), reads it and sniffs its top layer; a
 * mirror serving a manifest with no layers, 5xx, 404 and network errors are retried after 100 ms,
 * 200 ms, 500 ms, 1 s, 2 s; 400/401/403/405/429 fail at once. `makeImage` must give an image whose
 * requests are not retried by the transport, so this loop is the only retry owner.
 */
export async function openRemoteImage(makeImage: () => RemoteImage, logger: Logger, options: OpenRemoteOptions = {}): Promise<RemoteImage> {
  const delays = options.delays ?? OPEN_REMOTE_DELAYS_MS;
  return retryLoop(
    async (attempt) => {
      const image = makeImage();
      const { manifest } = await image.manifest();
      if (manifest.layers.length === 0) throw new Error("image has no layers");
      const layers = await image.layers();
      const top = layers[layers.length - 1];
      if (!top) throw new Error("image has no layers");
      if (!isSha256Digest(top.diffId)) throw new Error("image top layer has no valid diffID");
      if (attempt > 1) logger.info(`Successfully opened remote image after ${attempt - 1} retries`);
      return image;
    },
    {
      attempts: delays.length + 1,
      retryable: (err) => {
        const status = statusOf(err);
        return status === undefined || !NOT_RETRIED.has(status);
      },
      // contract §7: fixed delays, no jitter, no Retry-After
      delayMs: (retry) => delays[retry - 1] ?? 0,
      signal: options.signal,
      onRetry: ({ attempt, attempts, delayMs, error }) =>
        logger.warn(`Failed to open remote image (attempt ${attempt}/${attempts}): ${errorMessage(error)}, retrying in ${goDuration(delayMs)}`),
    },
  );
}
