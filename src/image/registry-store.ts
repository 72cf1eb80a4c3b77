import type { Logger } from "../log/logger.js";
import { checkReadAccess, checkWriteAccess } from "../registry/access.js";
import type { RegistryClient } from "../registry/client.js";
import { Reference } from "../registry/reference.js";
import { NO_RETRY } from "../registry/retry.js";
import { FileLayer } from "./file-layer.js";
import { openRemoteImage } from "./open-remote.js";
import { BlobPusher, pushImageNames } from "./registry-writer.js";
import { RemoteImage } from "./remote-image.js";
import type { ImageStore, OpenOptions, ProbeOptions, ProbeResult, SaveResult } from "./store.js";
import type { Image, Layer } from "./types.js";

/** Images in registries: references, digest identifiers, probes by manifest HEAD, pushes through one blob pusher. */
export class RegistryStore implements ImageStore {
  readonly kind = "registry";
  readonly layerEncoding = "gzip";

  constructor(
    readonly client: RegistryClient,
    /** Shared with other pushes of the run (the cache image), so a blob goes up once. */
    readonly pusher: BlobPusher = new BlobPusher(client),
  ) {}

  open(name: string, options: OpenOptions = {}): RemoteImage {
    return new RemoteImage(this.client, Reference.parse(name), { platform: options.platform });
  }

  openBase(name: string, logger: Logger): Promise<RemoteImage> {
    const ref = Reference.parse(name);
    // openRemoteImage owns the retries of every request made while opening (contract §7)
    return openRemoteImage(() => new RemoteImage(this.client, ref, { retry: NO_RETRY }), logger);
  }

  async probeRead(name: string, options: ProbeOptions = {}): Promise<ProbeResult> {
    const ref = Reference.tryParse(name);
    if (!ref) return { readable: false, reason: "not a valid image reference" };
    const result = await checkReadAccess(this.client, ref, { signal: options.signal });
    if (result.ok) return { readable: true };
    return { readable: false, ...(result.status === 404 ? { missing: true } : {}), reason: result.error?.message };
  }

  async probeWrite(name: string): Promise<ProbeResult> {
    const result = await checkWriteAccess(this.client, Reference.parse(name));
    return result.ok ? { readable: true } : { readable: false, reason: result.error?.message };
  }

  describe(name: string): string {
    return name;
  }

  layerReady(name: string, layer: Layer): void {
    // started early; the save awaits the same (memoised) upload and reports its failure
    void this.pusher.push(Reference.parse(name), layer).catch(() => undefined);
  }

  async save(image: Image, names: readonly string[]): Promise<SaveResult> {
    const refs = names.map((n) => Reference.parse(n));
    const pushed = await pushImageNames(this.client, image, refs, { pusher: this.pusher });
    // later pushes of this run (the cache image) may mount the new blobs from the first saved repository
    const saved = pushed.names.find((n) => n.error === undefined);
    if (saved) {
      for (const layer of await image.layers()) {
        if (layer instanceof FileLayer) layer.source ??= { registry: saved.ref.registry, repository: saved.ref.repository };
      }
    }
    return {
      names: pushed.names.map((n, i) => ({ name: names[i] ?? n.ref.original, display: names[i] ?? n.ref.original, ...(n.error ? { error: n.error } : {}) })),
      displayId: pushed.digest,
      report: { digest: pushed.digest, manifestSize: pushed.size },
    };
  }
}
