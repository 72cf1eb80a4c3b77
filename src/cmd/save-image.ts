import { FileLayer } from "../image/file-layer.js";
import { LayoutImageHandler } from "../image/handler.js";
import { formatLayoutIdentifier } from "../image/layout-path.js";
import { writeLayoutImage } from "../image/layout-writer.js";
import type { MutableImage } from "../image/mutable-image.js";
import { pushImage, PushError, type BlobPusher } from "../image/registry-writer.js";
import type { Logger } from "../log/logger.js";
import { errorMessage } from "../platform/errors.js";
import type { RegistryClient } from "../registry/client.js";
import { Reference } from "../registry/reference.js";

/** Where an image is saved: a registry (with the run's blob pusher) or OCI layouts under a directory. */
export type ImageSink =
  | { readonly kind: "registry"; readonly client: RegistryClient; readonly pusher?: BlobPusher }
  | { readonly kind: "layout"; readonly layoutDir: string };

/**
 * Saves an image under every name (contract §2.3 step 9.15) and logs like the Go lifecycle:
 * `Saving <image>...`, then `*** Images (<digest>):` and a line per name (`<name> - <cause>` for a
 * name that failed). Any failed name fails the save. Returns the manifest digest and size.
 */
export async function saveImage(image: MutableImage, names: readonly string[], sink: ImageSink, logger: Logger): Promise<{ digest: string; size: number }> {
  logger.info(`Saving ${names[0] ?? ""}...`);
  if (sink.kind === "layout") {
    const handler = new LayoutImageHandler(sink.layoutDir);
    let written = { digest: "", size: 0 };
    for (const name of names) {
      const ref = Reference.parse(name);
      written = await writeLayoutImage(image, handler.pathFor(name), { refName: ref.tag ?? ref.digest, exclusive: true });
    }
    logger.info(`*** Images (${written.digest.slice(7, 19)}):`);
    for (const name of names) logger.info(`      ${name} - ${formatLayoutIdentifier(handler.pathFor(name), written.digest)}`);
    return written;
  }
  const refs = names.map((n) => Reference.parse(n));
  try {
    const pushed = await pushImage(sink.client, image, refs, { pusher: sink.pusher });
    logger.info(`*** Images (${pushed.digest.slice(7, 19)}):`);
    for (const name of names) logger.info(`      ${name}`);
    // later pushes (the cache image) may mount these blobs from the first name's repository
    const first = refs[0];
    if (first) for (const layer of image.layerList) if (layer instanceof FileLayer) layer.source = { registry: first.registry, repository: first.repository };
    return pushed;
  } catch (err) {
    if (err instanceof PushError) {
      logger.info("*** Images:");
      for (const name of names) logger.info(`      ${name}${err.failed.includes(name) ? ` - ${errorMessage(err.cause)}` : ""}`);
    }
    throw err;
  }
}
