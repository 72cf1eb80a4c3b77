// The seam between phase logic and "where images live". A phase opens, probes and saves images
// through an ImageStore and never learns whether they sit in a registry, in OCI layouts under a
// directory, or in a Docker daemon. Stores are chosen in one place (stores.ts).
import type { Logger } from "../log/logger.js";
import type { PlatformSelector } from "./platform.js";
import type { Image, Layer } from "./types.js";

/** An image opened from a store; nothing is read until asked. */
export interface StoredImage extends Image {
  /** The name it was opened by, as given. */
  readonly name: string;
  /** Whether the store holds it (false when absent; any other failure rejects). */
  exists(): Promise<boolean>;
  /**
   * How the lifecycle records the image (analyzed.toml, labels, reports): registry
   * `registry/repo@sha256:<hex>`, OCI layout `<path>@sha256:<hex>`, daemon the image ID's hex
   * without `sha256:`.
   */
  identifier(): Promise<string>;
}

/** Options when opening an image. */
export interface OpenOptions {
  /** Platform used when the name resolves to an index (default `linux/<host arch>`). */
  readonly platform?: PlatformSelector;
}

/** The verdict of an access probe. */
export interface ProbeResult {
  readonly readable: boolean;
  /** The image does not exist (a registry 404): access was not denied, there is just nothing to read. */
  readonly missing?: boolean;
  /** Why not (status, error), for debug logs. */
  readonly reason?: string;
}

/** Options of a read probe. */
export interface ProbeOptions {
  /** Cancels the probe (a request in flight and any pending backoff). */
  readonly signal?: AbortSignal;
}

/** How the layers an exporter builds are encoded for a store: gzip blobs, or plain tars (the daemon loads tars). */
export type LayerEncoding = "gzip" | "tar";

/** What happened to one name of a save. */
export interface SavedName {
  /** The name as given. */
  readonly name: string;
  /** What logs show for it (the layout store shows the layout path). */
  readonly display: string;
  /** Set when this name was not saved. */
  readonly error?: Error;
}

/** The outcome of {@link ImageStore.save}. */
export interface SaveResult {
  /** One entry per name, in the order given. */
  readonly names: readonly SavedName[];
  /**
   * What `*** Images (<id>):` shows: the manifest digest `sha256:<hex>` (registry), the identifier
   * `<path>@sha256:<hex>` (OCI layout), or the first 12 hex of a daemon image ID.
   */
  readonly displayId: string;
  /** `report.toml` `[image]` fields besides `tags`: `digest` + `manifest-size` (registry, layout) or `image-id` (daemon). */
  readonly report: { readonly digest?: string; readonly imageId?: string; readonly manifestSize?: number };
}

/** Where a phase's images live. */
export interface ImageStore {
  readonly kind: "registry" | "layout" | "daemon";
  /** How new layers should be encoded for {@link save}. */
  readonly layerEncoding: LayerEncoding;
  /** Opens an image by name (a reference; the layout store also takes `<path>@sha256:<hex>` identifiers). */
  open(name: string, options?: OpenOptions): StoredImage;
  /**
   * Opens an image to build on or rebase onto; rejects when it does not exist. The registry store
   * retries the whole open as contract §7 says (6 attempts, 100 ms … 2 s, logged on `logger`).
   */
  openBase(name: string, logger: Logger): Promise<StoredImage>;
  /** Whether `name` can be read: a time-bounded probe in a registry, always true elsewhere. */
  probeRead(name: string, options?: ProbeOptions): Promise<ProbeResult>;
  /** Whether `name` can be written: a push probe in a registry, always true elsewhere. */
  probeWrite(name: string): Promise<ProbeResult>;
  /** What `Saving <x>...` shows for a name (the layout store shows the layout path). */
  describe(name: string): string;
  /**
   * Tells the store a new layer of an image to be saved under `name` exists, so it may start moving
   * it (the registry store uploads it while later layers are still being built). Optional.
   */
  layerReady?(name: string, layer: Layer): void;
  /**
   * A layer the store keeps apart from any image, by diffID (the daemon store's launch cache), so a
   * layer of a previous image the store no longer holds can still be reused. Optional.
   */
  cachedLayer?(diffId: string): Promise<Layer | undefined>;
  /**
   * Saves `image` under every name. Every name is attempted; a name that fails is reported in the
   * result with its error, the others are still saved. Rejects only when nothing could be attempted.
   */
  save(image: Image, names: readonly string[]): Promise<SaveResult>;
}
