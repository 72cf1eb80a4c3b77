import type { ImageStore, SaveResult } from "../image/store.js";
import type { Image } from "../image/types.js";
import type { Logger } from "../log/logger.js";

/** Some names could not be saved (imgutil's SaveError wording); the others were. */
export class SaveError extends Error {
  override name = "SaveError";
  constructor(readonly failures: readonly { readonly name: string; readonly cause: Error }[]) {
    super(`failed to write image to the following tags: ${failures.map((f) => `[${f.name}: ${f.cause.message}]`).join(",")}`, {
      cause: failures[0]?.cause,
    });
  }
}

/** What a successful save goes into `report.toml` with. */
export interface SavedImage {
  readonly tags: string[];
  readonly result: SaveResult;
}

/**
 * Saves an image under every name and logs it like the Go lifecycle (contract §2.3 step 9.15):
 * `Saving <name>...`, `*** Images (<id>):`, then each name, or `<name> - <cause>` for a name that
 * failed. Every name is attempted; if any failed, rejects with a SaveError after logging.
 */
export async function saveImage(store: ImageStore, image: Image, names: readonly string[], logger: Logger): Promise<SavedImage> {
  const [first = ""] = names;
  logger.info(`Saving ${store.describe(first)}...`);
  const result = await store.save(image, names);
  logger.info(`*** Images (${result.displayId}):`);
  const failures: { name: string; cause: Error }[] = [];
  const tags: string[] = [];
  for (const saved of result.names) {
    if (saved.error) {
      logger.info(`      ${saved.display} - ${saved.error.message}`);
      failures.push({ name: saved.display, cause: saved.error });
    } else {
      logger.info(`      ${saved.display}`);
      tags.push(saved.name);
    }
  }
  if (result.report.digest) logger.debug(`*** Digest: ${result.report.digest}`);
  if (result.report.imageId) logger.debug(`*** Image ID: ${result.report.imageId}`);
  if (result.report.manifestSize) logger.debug(`*** Manifest Size: ${result.report.manifestSize}`);
  if (failures.length > 0) throw new SaveError(failures);
  return { tags, result };
}
