import { VolumeCacheAdapter, type Cache } from "../cache/cache.js";
import { ImageCache, type ImageCacheOptions } from "../cache/image-cache.js";
import { VolumeCache } from "../cache/volume-cache.js";
import { failErr } from "../platform/errors.js";
import { ExitCode } from "../platform/exit-codes.js";
import type { RegistryClient } from "../registry/client.js";
import { Reference } from "../registry/reference.js";

/**
 * The phase's cache (contract §5.1): `-cache-image` wins over `-cache-dir`; neither means no cache.
 * A cache dir that does not exist is exit 1 `failed to create volume cache`.
 */
export async function openCache(
  cacheImage: string,
  cacheDir: string,
  client: RegistryClient,
  imageOptions: ImageCacheOptions = {},
): Promise<Cache | undefined> {
  if (cacheImage !== "") return new ImageCache(client, Reference.parse(cacheImage), imageOptions);
  if (cacheDir === "") return undefined;
  try {
    return new VolumeCacheAdapter(await VolumeCache.open(cacheDir));
  } catch (err) {
    throw failErr(ExitCode.Failed, "create volume cache", err);
  }
}
