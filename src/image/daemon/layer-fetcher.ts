// Layer contents the daemon alone holds, taken from a save of one image (`GET /images/{id}/get`):
// only the wanted layers are written out, and the reading stops once they were all found.
import { extractLayers } from "./archive-extract.js";
import type { DaemonStats } from "./daemon-stats.js";
import type { EngineClient } from "./engine-client.js";
import { DaemonError, isDaemonError } from "./engine-errors.js";
import { imagePath } from "./image-names.js";

/** Saves images partially: the wanted layers of one image, as files. */
export class LayerFetcher {
  constructor(
    private readonly engine: EngineClient,
    private readonly stats: DaemonStats,
  ) {}

  /**
   * Streams a save of `imageId` and hands each wanted layer to `onLayer` as a file in `dir`
   * (which then owns it). Rejects when the image is gone or a wanted layer is not in the save.
   */
  async fetch(imageId: string, wanted: ReadonlySet<string>, dir: string, onLayer: (diffId: string, path: string) => Promise<void>): Promise<void> {
    if (wanted.size === 0) return;
    const what = `saving layers of image ${imageId.slice("sha256:".length, "sha256:".length + 12)} from the daemon`;
    this.stats.imageSaves++;
    const controller = new AbortController();
    const res = await this.engine.request({ method: "GET", path: imagePath(imageId, "/get"), what, signal: controller.signal, headersTimeout: 0 });
    if (res.statusCode !== 200) {
      const err = await this.engine.failure(res, what);
      throw err.code === "not-found" ? new DaemonError("not-found", `${what}: image ${imageId} is no longer in the daemon`, 404, { cause: err }) : err;
    }
    let found: ReadonlySet<string>;
    try {
      ({ found } = await extractLayers(res.body, {
        wanted,
        tempDir: dir,
        onRead: (n) => (this.stats.saveBytesRead += n),
        onLayer: async (diffId, path) => {
          this.stats.layersFetched++;
          await onLayer(diffId, path);
        },
      }));
    } catch (err) {
      if (isDaemonError(err)) throw err;
      throw new DaemonError("unreachable", `${what}: ${err instanceof Error ? err.message : String(err)}`, undefined, { cause: err });
    } finally {
      // stop the transfer when everything was found early (or on failure)
      controller.abort();
      res.body.destroy();
    }
    const missing = [...wanted].filter((d) => !found.has(d));
    if (missing.length > 0) {
      throw new DaemonError("invalid-response", `${what}: the save does not contain layer ${missing.join(", ")}`);
    }
  }
}
