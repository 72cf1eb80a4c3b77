// Writes a benchmark image into an OCI layout: N layers, each one tar entry of generated
// text-like (compressible) data, gzip-compressed at a chosen level, streamed to disk without
// holding a layer in memory.
import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import tar from "tar-stream";

/** What to generate. */
export interface TextImageSpec {
  readonly layers: number;
  readonly layerBytes: number;
  readonly gzipLevel: number;
  readonly seed: number;
  /** `org.opencontainers.image.ref.name` of the image in `index.json`. */
  readonly tag: string;
}

/** One generated layer. */
export interface TextLayer {
  readonly digest: string;
  readonly diffId: string;
  readonly size: number;
  readonly uncompressedSize: number;
}

/** The generated image: manifest digest, layers, and the bytes a copy moves. */
export interface TextImage {
  readonly digest: string;
  readonly layers: readonly TextLayer[];
  /** Manifest + config + compressed layers. */
  readonly blobBytes: number;
}

/** mulberry32: a small, fast, seedable PRNG returning [0, 1). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A pool of word-like text with a skewed (Zipf-ish) word frequency, like source code or logs. */
function textPool(random: () => number, bytes: number): Buffer {
  const letters = "etaoinshrdlcumwfgypbvkjxqz";
  const vocabulary: Buffer[] = [];
  for (let i = 0; i < 4000; i++) {
    let word = "";
    const length = 2 + Math.floor(random() * random() * 12);
    for (let j = 0; j < length; j++) word += letters[Math.floor(random() * random() * letters.length)] ?? "e";
    vocabulary.push(Buffer.from(word));
  }
  const pool = Buffer.alloc(bytes);
  let pos = 0;
  let inLine = 0;
  while (pos < bytes) {
    const word = vocabulary[Math.floor(random() ** 3 * vocabulary.length)] ?? vocabulary[0] ?? Buffer.from("x");
    pos += word.copy(pool, pos);
    inLine++;
    const sep = inLine > 10 && random() < 0.2 ? "\n" : random() < 0.05 ? ", " : " ";
    if (sep === "\n") inLine = 0;
    pos += pool.write(sep, pos);
  }
  return pool;
}

async function* hashing(source: AsyncIterable<Buffer>, hash: ReturnType<typeof createHash>, count: { bytes: number }): AsyncGenerator<Buffer> {
  for await (const chunk of source) {
    hash.update(chunk);
    count.bytes += chunk.length;
    yield chunk;
  }
}

async function writeLayer(blobs: string, index: number, spec: TextImageSpec, pool: Buffer, random: () => number): Promise<TextLayer> {
  const pack = tar.pack();
  const diffId = createHash("sha256");
  const digest = createHash("sha256");
  const raw = { bytes: 0 };
  const compressed = { bytes: 0 };
  const tmp = join(blobs, `.tmp-layer-${index}`);
  const done = pipeline(
    Readable.from(pack as AsyncIterable<Buffer>),
    (source: AsyncIterable<Buffer>) => hashing(source, diffId, raw),
    createGzip({ level: spec.gzipLevel }),
    (source: AsyncIterable<Buffer>) => hashing(source, digest, compressed),
    createWriteStream(tmp),
  );
  const entry = pack.entry({ name: `data/layer-${index}.txt`, size: spec.layerBytes, mode: 0o644, mtime: new Date(0), uid: 0, gid: 0 });
  const block = 64 * 1024;
  for (let left = spec.layerBytes; left > 0; left -= block) {
    const n = Math.min(block, left);
    const offset = Math.floor(random() * (pool.length - n));
    if (!entry.write(pool.subarray(offset, offset + n))) await new Promise<void>((resolve) => entry.once("drain", () => resolve()));
  }
  entry.end(undefined);
  pack.finalize();
  await done;
  const hex = digest.digest("hex");
  await rename(tmp, join(blobs, hex));
  return { digest: `sha256:${hex}`, diffId: `sha256:${diffId.digest("hex")}`, size: compressed.bytes, uncompressedSize: raw.bytes };
}

async function writeBlob(blobs: string, data: string): Promise<{ digest: string; size: number }> {
  const hex = createHash("sha256").update(data).digest("hex");
  await writeFile(join(blobs, hex), data);
  return { digest: `sha256:${hex}`, size: Buffer.byteLength(data) };
}

/** Writes the image as an OCI layout at `layoutDir` (created). */
export async function writeTextImage(layoutDir: string, spec: TextImageSpec): Promise<TextImage> {
  const blobs = join(layoutDir, "blobs", "sha256");
  await mkdir(blobs, { recursive: true });
  const random = prng(spec.seed);
  const pool = textPool(random, 16 * 1024 * 1024);
  const layers: TextLayer[] = [];
  for (let i = 0; i < spec.layers; i++) layers.push(await writeLayer(blobs, i, spec, pool, random));
  const config = await writeBlob(
    blobs,
    JSON.stringify({
      architecture: "amd64",
      os: "linux",
      config: { Env: ["PATH=/usr/bin:/bin"] },
      rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
      history: layers.map((_, i) => ({ created_by: `bench: layer ${i}` })),
    }),
  );
  const manifest = await writeBlob(
    blobs,
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
      layers: layers.map((l) => ({ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: l.digest, size: l.size })),
    }),
  );
  await writeFile(join(layoutDir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  await writeFile(
    join(layoutDir, "index.json"),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        { mediaType: "application/vnd.oci.image.manifest.v1+json", ...manifest, annotations: { "org.opencontainers.image.ref.name": spec.tag } },
      ],
    }),
  );
  const blobBytes = manifest.size + config.size + layers.reduce((sum, l) => sum + l.size, 0);
  return { digest: manifest.digest, layers, blobBytes };
}
