// A small in-memory image store for in-process tests of the phases: images held as MutableImages
// with their layer bytes in memory, probes answered from a table, saves recorded (and refused for
// the names a test says), and every layer the store was told about early (`layerReady`) recorded.
import { BufferLayer } from "../../src/image/file-layer.js";
import { familyOf, MutableImage } from "../../src/image/mutable-image.js";
import type { ImageStore, LayerEncoding, ProbeResult, SaveResult, SavedName, StoredImage } from "../../src/image/store.js";
import type { Image, Layer } from "../../src/image/types.js";
import type { Logger } from "../../src/log/logger.js";

/** A stored image: a MutableImage with the store's name and identifier. */
class MemoryImage extends MutableImage implements StoredImage {
  constructor(
    readonly name: string,
    private readonly source: MutableImage | undefined,
  ) {
    super(source?.editableConfig ?? { rootfs: { type: "layers", diff_ids: [] } }, source?.layerList ?? [], source?.family ?? "oci");
  }

  exists(): Promise<boolean> {
    return Promise.resolve(this.source !== undefined);
  }

  async identifier(): Promise<string> {
    if (!this.source) throw new Error(`image '${this.name}' not found in memory`);
    return `mem:${(await this.manifest()).digest}`;
  }
}

/** Reads a layer's blob into memory (the exporter's temp files are gone after an export). */
async function inMemory(layer: Layer): Promise<Layer> {
  if (layer instanceof BufferLayer) return layer;
  const chunks: Buffer[] = [];
  for await (const chunk of await layer.open()) chunks.push(chunk as Buffer);
  return new BufferLayer(Buffer.concat(chunks), layer.digest, layer.diffId, layer.mediaType);
}

/** Options of {@link MemoryStore}. */
export interface MemoryStoreOptions {
  /** Probe answers by name (default: readable when the image exists, missing otherwise). */
  readonly probes?: Record<string, ProbeResult>;
  /** Names whose save fails with this message. */
  readonly refuse?: Record<string, string>;
  readonly layerEncoding?: LayerEncoding;
}

/** An ImageStore whose images live in this process. */
export class MemoryStore implements ImageStore {
  readonly kind = "registry";
  readonly layerEncoding: LayerEncoding;
  private readonly images = new Map<string, MutableImage>();
  /** Layers announced with `layerReady`, by name. */
  readonly announced: { name: string; layer: Layer }[] = [];
  /** Every save: the names asked for. */
  readonly saves: string[][] = [];

  constructor(private readonly options: MemoryStoreOptions = {}) {
    this.layerEncoding = options.layerEncoding ?? "gzip";
  }

  /** Puts an image under a name (a test's run image, a previous app image). */
  async put(name: string, image: Image): Promise<void> {
    const [{ mediaType }, { config }, layers] = await Promise.all([image.manifest(), image.config(), image.layers()]);
    const copy = new MutableImage(config, await Promise.all(layers.map(inMemory)), familyOf(mediaType));
    this.images.set(name, copy);
    // the identifier the analyzer records opens the same image
    this.images.set(`mem:${(await copy.manifest()).digest}`, copy);
  }

  /** The image saved under a name, if any. */
  get(name: string): MutableImage | undefined {
    return this.images.get(name);
  }

  open(name: string): StoredImage {
    return new MemoryImage(name, this.images.get(name));
  }

  async openBase(name: string, _logger: Logger): Promise<StoredImage> {
    const image = this.open(name);
    if (!(await image.exists())) throw new Error(`image '${name}' not found in memory`);
    return image;
  }

  probeRead(name: string): Promise<ProbeResult> {
    const answer = this.options.probes?.[name];
    if (answer) return Promise.resolve(answer);
    return Promise.resolve(this.images.has(name) ? { readable: true } : { readable: false, missing: true });
  }

  probeWrite(): Promise<ProbeResult> {
    return Promise.resolve({ readable: true });
  }

  describe(name: string): string {
    return name;
  }

  layerReady(name: string, layer: Layer): void {
    this.announced.push({ name, layer });
  }

  async save(image: Image, names: readonly string[]): Promise<SaveResult> {
    this.saves.push([...names]);
    const { digest, raw } = await image.manifest();
    const results: SavedName[] = [];
    for (const name of names) {
      const refused = this.options.refuse?.[name];
      if (refused !== undefined) {
        results.push({ name, display: name, error: new Error(refused) });
        continue;
      }
      await this.put(name, image);
      results.push({ name, display: name });
    }
    return { names: results, displayId: digest, report: { digest, manifestSize: raw.length } };
  }
}
