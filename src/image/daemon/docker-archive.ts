// The tar a Docker daemon loads (`POST /images/load`, the legacy `docker save` layout):
//
//   <sha256 of config>.json                the image config, byte for byte
//   <diffID hex>.tar                       one uncompressed tar per distinct layer sent
//   blank_<i>                              a zero-byte placeholder for a layer the daemon holds
//   manifest.json                          [{"Config", "RepoTags", "Layers": [file per layer, base first]}]
//
// Produced as a stream straight into the request body; layer contents are hashed on the way so a
// layer whose bytes do not match its diffID stops the load instead of being stored (except the
// exporter's own tars, hashed as they were written). Daemons read the whole archive before they
// look at manifest.json, so entries may come in any order: an ArchiveWriter can write layers as
// they are built and the config and manifest once the image is complete.
import { createHash } from "node:crypto";
import type { Readable } from "node:stream";
import { BLOCK_SIZE, blockPadding } from "../../layers/tar-entry.js";
import { encodeTarHeader } from "../../layers/tar-header.js";

/** Where a layer's uncompressed tar comes from when it is sent. */
export interface LayerContent {
  /** Exact byte length of the uncompressed tar (written in the entry header). */
  readonly size: number;
  open(): Promise<Readable | AsyncIterable<Buffer>>;
  /** The bytes were hashed to their diffID as they were written (the exporter's tars): not hashed again. */
  readonly selfHashed?: boolean;
}

/** One layer of the archive: its content, or none for a placeholder. */
export interface ArchiveLayer {
  readonly diffId: string;
  readonly content?: LayerContent;
}

/** What goes into the archive. */
export interface ArchiveSpec {
  /** The config bytes; the daemon's image ID is their sha256 (Docker graph driver, podman). */
  readonly config: Buffer;
  /** Names the daemon tags the loaded image with. */
  readonly repoTags: readonly string[];
  /** Base layer first. */
  readonly layers: readonly ArchiveLayer[];
}

/** Told about layer content as it is written (live counters). */
export interface ArchiveProgress {
  layerBytes(n: number): void;
}

/** A layer's content did not have the promised size or digest. */
export class LayerContentError extends Error {
  override name = "LayerContentError";
}

function fileHeader(name: string, size: number): Buffer {
  return encodeTarHeader({ name, type: "file", mode: 0o644, uid: 0, gid: 0, size, mtime: 0 });
}

function* smallFile(name: string, bytes: Buffer): Generator<Buffer> {
  yield fileHeader(name, bytes.length);
  yield bytes;
  const pad = blockPadding(bytes.length);
  if (pad > 0) yield Buffer.alloc(pad);
}

async function* layerFile(name: string, diffId: string, content: LayerContent, progress: ArchiveProgress): AsyncGenerator<Buffer> {
  yield fileHeader(name, content.size);
  const hash = content.selfHashed === true ? undefined : createHash("sha256");
  let written = 0;
  for await (const chunk of await content.open()) {
    const buf = chunk as Buffer;
    written += buf.length;
    if (written > content.size) throw new LayerContentError(`layer ${diffId} is larger than its ${content.size} bytes`);
    hash?.update(buf);
    progress.layerBytes(buf.length);
    yield buf;
  }
  if (written !== content.size) throw new LayerContentError(`layer ${diffId} ended after ${written} of ${content.size} bytes`);
  if (hash) {
    const found = `sha256:${hash.digest("hex")}`;
    if (found !== diffId) throw new LayerContentError(`layer content does not match its diffID: expected ${diffId}, found ${found}`);
  }
  const pad = blockPadding(content.size);
  if (pad > 0) yield Buffer.alloc(pad);
}

/** The archive file of a layer's content. */
function layerFileName(diffId: string): string {
  return `${diffId.slice("sha256:".length)}.tar`;
}

/**
 * Writes one archive in parts: {@link layer} for layers whose content is at hand early (each diffID
 * once), then {@link finish} with the whole image, which writes the config, the layers not written
 * yet, a zero-byte placeholder per layer left out, and manifest.json.
 */
export class ArchiveWriter {
  /** Layer files written so far (by name). */
  private readonly written = new Set<string>();

  constructor(private readonly progress: ArchiveProgress) {}

  /** The entry of one layer's content; nothing when that layer was written already. */
  async *layer(diffId: string, content: LayerContent): AsyncGenerator<Buffer> {
    const name = layerFileName(diffId);
    if (this.written.has(name)) return;
    this.written.add(name);
    yield* layerFile(name, diffId, content, this.progress);
  }

  /** The `manifest.json` layer names, base first: a layer file when written or to be written, else `blank_<i>`. */
  layerNames(layers: readonly ArchiveLayer[]): string[] {
    return layers.map((layer, i) => (layer.content || this.written.has(layerFileName(layer.diffId)) ? layerFileName(layer.diffId) : `blank_${i}`));
  }

  /** The rest of the archive, through the end-of-archive blocks. */
  async *finish(spec: ArchiveSpec): AsyncGenerator<Buffer> {
    const configName = `${createHash("sha256").update(spec.config).digest("hex")}.json`;
    yield* smallFile(configName, spec.config);
    const names = this.layerNames(spec.layers);
    for (const [i, layer] of spec.layers.entries()) {
      const name = names[i] ?? "";
      if (layer.content) yield* this.layer(layer.diffId, layer.content); // the same layer twice: one file, listed twice
      else if (!this.written.has(name)) yield fileHeader(name, 0);
    }
    const manifest = [{ Config: configName, RepoTags: [...spec.repoTags], Layers: names }];
    yield* smallFile("manifest.json", Buffer.from(JSON.stringify(manifest)));
    yield Buffer.alloc(2 * BLOCK_SIZE);
  }
}

/** Streams a whole archive at once; `progress` hears of the layer bytes as they are produced. */
export function dockerArchive(spec: ArchiveSpec, progress: ArchiveProgress): AsyncGenerator<Buffer> {
  return new ArchiveWriter(progress).finish(spec);
}
