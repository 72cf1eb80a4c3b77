import { BlobPusher } from "../image/registry-writer.js";
import { LayoutStore } from "../image/layout-store.js";
import { RegistryStore } from "../image/registry-store.js";
import type { ImageStore, ProbeResult, SaveResult, StoredImage } from "../image/store.js";
import type { RegistryClient } from "../registry/client.js";
import { daemonUnsupported } from "./privileges.js";

/** Where a phase's images live, as the flags say: `-daemon` wins over `-layout`, else a registry. */
export type ImageStoreKind = "registry" | "layout" | "daemon";

/** The store kind selected by `-daemon` / `-layout`. */
export function imageStoreKind(flags: { readonly daemon: boolean; readonly layout: boolean }): ImageStoreKind {
  if (flags.daemon) return "daemon";
  return flags.layout ? "layout" : "registry";
}

/** What the stores may need; each takes only its own. */
export interface ImageStoreDeps {
  readonly client: () => RegistryClient;
  /** The run's blob pusher, shared with the cache image (registry store). */
  readonly pusher?: BlobPusher;
  readonly layoutDir: string;
}

/** Creates the phase's image store: the one place where stores are chosen. */
export function createImageStore(kind: ImageStoreKind, deps: ImageStoreDeps): Promise<ImageStore> {
  switch (kind) {
    case "registry":
      return Promise.resolve(new RegistryStore(deps.client(), deps.pusher ?? new BlobPusher(deps.client())));
    case "layout":
      return Promise.resolve(new LayoutStore(deps.layoutDir));
    case "daemon":
      return Promise.resolve(new DaemonUnavailable());
  }
}

/**
 * Until the daemon store lands: access checks of daemon images are no-ops (so the restorer's
 * `-daemon` run-image rule works), everything else says daemon mode is not supported.
 */
class DaemonUnavailable implements ImageStore {
  readonly kind = "daemon";
  readonly layerEncoding = "tar";
  open(): StoredImage {
    throw daemonUnsupported();
  }
  openBase(): Promise<StoredImage> {
    return Promise.reject(daemonUnsupported());
  }
  probeRead(): Promise<ProbeResult> {
    return Promise.resolve({ readable: true });
  }
  probeWrite(): Promise<ProbeResult> {
    return Promise.resolve({ readable: true });
  }
  describe(name: string): string {
    return name;
  }
  save(): Promise<SaveResult> {
    return Promise.reject(daemonUnsupported());
  }
}
