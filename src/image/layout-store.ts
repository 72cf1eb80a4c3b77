import type { Logger } from "../log/logger.js";
import { Reference } from "../registry/reference.js";
import { LayoutImage } from "./layout-image.js";
import { layoutPathForReference, parseLayoutIdentifier } from "./layout-path.js";
import { writeLayoutImage } from "./layout-writer.js";
import type { ImageStore, OpenOptions, ProbeResult, SaveResult, SavedName } from "./store.js";
import type { Image } from "./types.js";

/**
 * Images in OCI layouts under `-layout-dir`: a reference maps to `<dir>/<registry>/<repo>/<tag>`
 * (imgutil's convention), and an identifier `<path>@sha256:<hex>` names one image of a layout.
 */
export class LayoutStore implements ImageStore {
  readonly kind = "layout";
  readonly layerEncoding = "gzip";

  constructor(readonly layoutDir: string) {}

  /** The layout directory an image reference maps to. */
  pathFor(name: string): string {
    return layoutPathForReference(this.layoutDir, name);
  }

  open(name: string, options: OpenOptions = {}): LayoutImage {
    if (name.startsWith("/") && parseLayoutIdentifier(name).digest) return LayoutImage.fromIdentifier(name, { platform: options.platform });
    return new LayoutImage(this.pathFor(name), { platform: options.platform, name });
  }

  async openBase(name: string, _logger: Logger): Promise<LayoutImage> {
    const image = this.open(name);
    if (!(await image.exists())) throw new Error(`image '${name}' not found in OCI layout ${image.path}`);
    return image;
  }

  /** Layouts are local files: there is no access to check. */
  probeRead(): Promise<ProbeResult> {
    return Promise.resolve({ readable: true });
  }

  probeWrite(): Promise<ProbeResult> {
    return Promise.resolve({ readable: true });
  }

  /** The layout path, as Go's layout images are named (an identifier `<path>@sha256:…` shows its path). */
  describe(name: string): string {
    if (name.startsWith("/") && parseLayoutIdentifier(name).digest) return parseLayoutIdentifier(name).path;
    return this.pathFor(name);
  }

  async save(image: Image, names: readonly string[]): Promise<SaveResult> {
    const { digest, raw } = await image.manifest();
    const results: SavedName[] = [];
    for (const name of names) {
      const display = this.describe(name);
      try {
        const ref = Reference.parse(name);
        await writeLayoutImage(image, display, { refName: ref.tag ?? ref.digest, exclusive: true });
        results.push({ name, display });
      } catch (err) {
        results.push({ name, display, error: err instanceof Error ? err : new Error(String(err)) });
      }
    }
    // Go prints a layout image's identifier, `<path>@sha256:<hex>` (imgutil's layout.Identifier)
    const displayId = `${this.describe(names[0] ?? "")}@${digest}`;
    return { names: results, displayId, report: { digest, manifestSize: raw.length } };
  }
}
