import type { RegistryClient } from "../registry/client.js";
import { Reference } from "../registry/reference.js";
import type { RetryPolicy } from "../registry/retry.js";
import { LayoutImage } from "./layout-image.js";
import { layoutPathForReference, parseLayoutIdentifier } from "./layout-path.js";
import type { PlatformSelector } from "./platform.js";
import { RemoteImage } from "./remote-image.js";
import type { Image } from "./types.js";

/** An image that can say whether it exists and how the lifecycle identifies it. */
export interface SourceImage extends Image {
  exists(): Promise<boolean>;
  /** Registry: `registry/repo@sha256:…`; layout: `<path>@sha256:…`. */
  digestReference(): Promise<string>;
}

/** Options when opening an image through a handler. */
export interface OpenOptions {
  readonly platform?: PlatformSelector;
  readonly retry?: RetryPolicy;
}

/** Where the phase's images live: a registry, or OCI layouts under `-layout-dir`. */
export interface ImageHandler {
  readonly kind: "registry" | "layout";
  /** Opens an image by reference (layout: by reference or by a `<path>@sha256:…` identifier). */
  open(name: string, options?: OpenOptions): SourceImage;
}

/** Images in registries. */
export class RegistryImageHandler implements ImageHandler {
  readonly kind = "registry";
  constructor(readonly client: RegistryClient) {}

  open(name: string, options: OpenOptions = {}): RemoteImage {
    return new RemoteImage(this.client, Reference.parse(name), options);
  }
}

/** Images in OCI layouts: `<layout-dir>/<registry>/<repo>/<tag>` (imgutil's convention). */
export class LayoutImageHandler implements ImageHandler {
  readonly kind = "layout";
  constructor(readonly layoutDir: string) {}

  /** The layout directory an image reference maps to. */
  pathFor(name: string): string {
    return layoutPathForReference(this.layoutDir, name);
  }

  open(name: string, options: OpenOptions = {}): LayoutImage {
    const identifier = parseLayoutIdentifier(name);
    if (identifier.digest && name.startsWith("/")) {
      return LayoutImage.fromIdentifier(name, { platform: options.platform });
    }
    return new LayoutImage(this.pathFor(name), { platform: options.platform });
  }
}
