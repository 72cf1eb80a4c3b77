import { VolumeCache } from "../cache/volume-cache.js";
import { DaemonStore, type EngineClient } from "../image/daemon/index.js";
import { LayoutStore } from "../image/layout-store.js";
import { BlobPusher } from "../image/registry-writer.js";
import { RegistryStore } from "../image/registry-store.js";
import type { ImageStore, ProbeResult, SaveResult, StoredImage } from "../image/store.js";
import { failErr } from "../platform/errors.js";
import { ExitCode } from "../platform/exit-codes.js";
import type { RegistryClient } from "../registry/client.js";

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
  /** The daemon connection made while privileged, or why there is none (daemon store). */
  readonly daemon?: EngineClient | Error;
  /** `-launch-cache` (daemon store; ignored without `-daemon`). */
  readonly launchCacheDir?: string;
}

/** Creates the phase's image store: the one place where stores are chosen. */
export async function createImageStore(kind: ImageStoreKind, deps: ImageStoreDeps): Promise<ImageStore> {
  switch (kind) {
    case "registry":
      return new RegistryStore(deps.client(), deps.pusher ?? new BlobPusher(deps.client()));
    case "layout":
      return new LayoutStore(deps.layoutDir);
    case "daemon":
      if (deps.daemon === undefined || deps.daemon instanceof Error) return new DaemonUnreachable(deps.daemon);
      return new DaemonStore(deps.daemon, { launchCache: await openLaunchCache(deps.launchCacheDir ?? "") });
  }
}

/** The launch cache of daemon mode (a volume cache); exit 1 when its directory cannot be used. */
async function openLaunchCache(dir: string): Promise<VolumeCache | undefined> {
  if (dir === "") return undefined;
  try {
    return await VolumeCache.open(dir);
  } catch (err) {
    throw failErr(ExitCode.Failed, "create launch cache", err);
  }
}

/**
 * The daemon store of a phase that could not connect to the daemon but may not need it (the
 * restorer): access checks are no-ops in daemon mode anyway; anything that needs the daemon fails
 * with the connection's error.
 */
class DaemonUnreachable implements ImageStore {
  readonly kind = "daemon";
  readonly layerEncoding = "tar";
  private readonly error: Error;

  constructor(error: Error | undefined) {
    this.error = error ?? new Error("failed to initialize docker client: not connected");
  }

  open(): StoredImage {
    throw this.error;
  }
  openBase(): Promise<StoredImage> {
    return Promise.reject(this.error);
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
    return Promise.reject(this.error);
  }
}
