import { randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, open, rename, stat, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { writeFileAtomic } from "../util/atomic-write.js";
import { blobPath, blobSize, isEnoent, verifyingStream } from "./layout-blobs.js";
import { readLayoutIndex, REF_NAME_ANNOTATION } from "./layout-image.js";
import { type Descriptor, type Image, type ImageIndex, type Layer } from "./types.js";
import { MediaType } from "../oci/media-types.js";
import { DigestMismatchError, sha256Digest } from "../oci/digest.js";

/** Options of {@link writeLayoutImage}. */
export interface WriteLayoutOptions {
  /** Name recorded as `org.opencontainers.image.ref.name`; an older entry with this name is replaced. */
  readonly refName?: string;
  /** Write only the manifest and config, not the layers (a sparse layout). */
  readonly sparse?: boolean;
  /**
   * The layout holds only this image: `index.json` is replaced rather than merged (the lifecycle's
   * `<layout-dir>/<registry>/<repo>/<tag>` directories, like imgutil's save).
   */
  readonly exclusive?: boolean;
  /** How many layers are copied at once (default 3). */
  readonly concurrency?: number;
}

/** The manifest written by {@link writeLayoutImage}. */
export interface WrittenLayoutImage {
  readonly digest: string;
  readonly size: number;
  readonly mediaType: string;
}

const LAYOUT_MARKER = `${JSON.stringify({ imageLayoutVersion: "1.0.0" })}\n`;
const FILE_MODE = 0o644;
const DEFAULT_CONCURRENCY = 3;

function tempNameFor(target: string): string {
  return join(dirname(target), `.${basename(target)}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`);
}

/** Creates `oci-layout` (when absent) and `blobs/sha256`. */
async function ensureLayout(path: string): Promise<void> {
  await mkdir(join(path, "blobs", "sha256"), { recursive: true });
  try {
    await stat(join(path, "oci-layout"));
  } catch (err) {
    if (!isEnoent(err)) throw err;
    await writeFileAtomic(join(path, "oci-layout"), LAYOUT_MARKER, { mode: FILE_MODE });
  }
}

/** Writes a small blob with its exact bytes, unless a blob of the right size is already there. */
async function writeBytesBlob(path: string, digest: string, raw: Buffer): Promise<void> {
  if ((await blobSize(path, digest)) === raw.length) return;
  await writeFileAtomic(blobPath(path, digest), raw, { mode: FILE_MODE });
}

/** Flushes a written file to disk (fsync works on any descriptor of the file). */
async function syncFile(path: string): Promise<void> {
  const handle = await open(path, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Streams a layer into `blobs/sha256/<hex>` through a temp file, verifying digest and size on the way. */
async function writeLayerBlob(path: string, layer: Layer, signal: AbortSignal): Promise<void> {
  if ((await blobSize(path, layer.digest)) === layer.size) return;
  const target = blobPath(path, layer.digest);
  const tmp = tempNameFor(target);
  let source: Readable | undefined;
  try {
    source = await layer.open();
    const verifier = verifyingStream(layer.digest, layer.size, `layer ${layer.digest}`);
    await pipeline(source, verifier, createWriteStream(tmp, { flags: "wx", mode: FILE_MODE }), { signal });
    await syncFile(tmp);
    await rename(tmp, target);
  } catch (err) {
    source?.destroy();
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

/** Runs `fn` over `items` with at most `limit` at once; on the first failure the rest are aborted. */
async function forEachLimited<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T, signal: AbortSignal) => Promise<void>,
): Promise<void> {
  const controller = new AbortController();
  let next = 0;
  let firstError: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (!firstError && next < items.length) {
      const item = items[next++] as T;
      try {
        await fn(item, controller.signal);
      } catch (error) {
        firstError ??= { error };
        controller.abort();
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (firstError) throw firstError.error;
}

/** Checks that the image's parts agree before anything is written (digests, sizes, layer list). */
function checkConsistency(
  manifestDigest: string,
  manifestRaw: Buffer,
  configDigest: string,
  configRaw: Buffer,
  described: { config: Descriptor; layers: Descriptor[] },
  layers: readonly Layer[] | undefined,
): void {
  if (sha256Digest(manifestRaw) !== manifestDigest) {
    throw new DigestMismatchError(`manifest bytes do not match its digest ${manifestDigest}`);
  }
  if (sha256Digest(configRaw) !== configDigest || configDigest !== described.config.digest) {
    throw new DigestMismatchError(`config bytes do not match the manifest's config digest ${described.config.digest}`);
  }
  if (configRaw.length !== described.config.size) {
    throw new DigestMismatchError(`config has ${configRaw.length} bytes, the manifest says ${described.config.size}`);
  }
  if (!layers) return;
  if (layers.length !== described.layers.length) {
    throw new Error(`image has ${layers.length} layers but its manifest lists ${described.layers.length}`);
  }
  described.layers.forEach((d, i) => {
    const layer = layers[i];
    if (layer?.digest !== d.digest || layer.size !== d.size) {
      throw new Error(`layer ${i} (${layer?.digest ?? "missing"}) does not match manifest entry ${d.digest}`);
    }
  });
}

/** Reads `index.json`, or an empty index when the layout has none yet. */
async function currentIndex(path: string): Promise<ImageIndex> {
  try {
    await stat(join(path, "index.json"));
  } catch (err) {
    if (isEnoent(err)) return { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] };
    throw err;
  }
  return readLayoutIndex(path);
}

/** Adds the manifest to `index.json` (replacing an entry with the same ref name), atomically. */
async function updateIndex(path: string, entry: Descriptor, refName: string | undefined, exclusive: boolean): Promise<void> {
  const index = await currentIndex(path);
  const kept = index.manifests.filter((m) => {
    if (exclusive) return false;
    const name = m.annotations?.[REF_NAME_ANNOTATION];
    return refName !== undefined ? name !== refName : !(m.digest === entry.digest && name === undefined);
  });
  const next: ImageIndex = { ...index, schemaVersion: 2, mediaType: index.mediaType ?? MediaType.OciIndex, manifests: [...kept, entry] };
  await writeFileAtomic(join(path, "index.json"), `${JSON.stringify(next)}\n`, { mode: FILE_MODE });
}

/**
 * Writes an image (from anywhere) into an OCI layout directory: layers are streamed and verified
 * into `blobs/sha256`, config and manifest keep their exact bytes, and `index.json` gains (or
 * replaces, by ref name) the manifest's entry. Blobs already present with the right size are kept.
 */
export async function writeLayoutImage(image: Image, path: string, opts: WriteLayoutOptions = {}): Promise<WrittenLayoutImage> {
  const [manifestInfo, configInfo, layers] = await Promise.all([
    image.manifest(),
    image.config(),
    opts.sparse ? Promise.resolve(undefined) : image.layers(),
  ]);
  const { manifest, raw, digest, mediaType } = manifestInfo;
  checkConsistency(digest, raw, configInfo.digest, configInfo.raw, manifest, layers);

  await ensureLayout(path);
  if (layers) {
    const unique = [...new Map(layers.map((l) => [l.digest, l])).values()];
    await forEachLimited(unique, opts.concurrency ?? DEFAULT_CONCURRENCY, (layer, signal) => writeLayerBlob(path, layer, signal));
  }
  await writeBytesBlob(path, configInfo.digest, configInfo.raw);
  await writeBytesBlob(path, digest, raw);

  const entry: Descriptor = {
    mediaType,
    digest,
    size: raw.length,
    ...(opts.refName !== undefined ? { annotations: { [REF_NAME_ANNOTATION]: opts.refName } } : {}),
  };
  await updateIndex(path, entry, opts.refName, opts.exclusive ?? false);
  return { digest, size: raw.length, mediaType };
}
