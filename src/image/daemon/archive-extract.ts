// Picks the wanted layers out of a `docker save` stream (`GET /images/{name}/get`) without storing
// the rest. Understands the layouts daemons produce:
//
//   podman, skopeo        <diffID hex>.tar  + <config hex>.json + manifest.json (+ <v1 id>/layer.tar symlinks)
//   Docker < 25 (legacy)  <v1 id>/layer.tar + <v1 id>/json + <config hex>.json + manifest.json
//   Docker ≥ 25 (OCI)     blobs/sha256/<hex> (+ index.json, oci-layout, manifest.json); layers are
//                         uncompressed (digest = diffID) with a graph driver, gzip with containerd
//
// An entry whose name is a digest and whose bytes are an uncompressed tar is that diffID, so it is
// read only when wanted. Entries that could hold a wanted layer under another name (a gzip blob,
// a legacy layer.tar) are hashed while being written to a temp file, kept when their diffID is
// wanted and deleted otherwise. Reading stops as soon as every wanted layer was found.
import { createHash, randomBytes } from "node:crypto";
import { open, rm } from "node:fs/promises";
import { join } from "node:path";
import { pipeline, Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import { readTar } from "./tar-reader.js";

/** Options of {@link extractLayers}. */
export interface ExtractLayersOptions {
  /** Diff IDs to find (`sha256:<hex>`). */
  readonly wanted: ReadonlySet<string>;
  /** Where layer files are written (on the same filesystem as their destination, so they can be renamed). */
  readonly tempDir: string;
  /** Takes a found layer's uncompressed tar; it owns the file from then on (moves or deletes it). */
  onLayer(diffId: string, path: string): Promise<void>;
  /** Hears of every chunk read from `input` (for counters). */
  onRead?(bytes: number): void;
}

/** What an extraction found and how much it read. */
export interface ExtractLayersResult {
  /** Diff IDs found (a subset of `wanted`). */
  readonly found: ReadonlySet<string>;
  /** Bytes of layer content written to temp files (wanted or not). */
  readonly spooledBytes: number;
}

const DIGEST_NAME = /^(?:\.\/)?(?:blobs\/sha256\/([0-9a-f]{64})|([0-9a-f]{64})\.tar)$/;
const METADATA_NAME = /(?:^|\/)(?:manifest\.json|repositories|index\.json|oci-layout|json|VERSION|[0-9a-f]{64}\.json)$/;
const SNIFF_BYTES = 512;

/** What an entry's first bytes look like. */
function sniff(head: Buffer): "gzip" | "tar" | "other" {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return "gzip";
  if (head.length >= 262 && head.subarray(257, 262).toString("latin1") === "ustar") return "tar";
  if (head.length >= 512 && head.subarray(0, 512).every((b) => b === 0)) return "tar"; // an empty tar
  return "other";
}

/** Reads an entry's first bytes; returns them and the whole entry's bytes (those included). */
async function peek(content: AsyncGenerator<Buffer>, bytes: number): Promise<{ head: Buffer; whole: AsyncGenerator<Buffer> }> {
  const first: Buffer[] = [];
  let size = 0;
  let done = false;
  while (size < bytes) {
    const next = await content.next();
    if (next.done === true) {
      done = true;
      break;
    }
    first.push(next.value);
    size += next.value.length;
  }
  async function* whole(): AsyncGenerator<Buffer> {
    yield* first;
    if (!done) yield* content;
  }
  return { head: Buffer.concat(first), whole: whole() };
}

async function drain(content: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of content) {
    // discard
  }
}

/** Counts what is read from the input. */
async function* counted(input: AsyncIterable<unknown>, onRead?: (bytes: number) => void): AsyncGenerator<Buffer> {
  for await (const chunk of input) {
    onRead?.((chunk as Buffer).length);
    yield chunk as Buffer;
  }
}

/**
 * Extracts the wanted layers from a saved-image tar stream. Stops (and destroys `input`) once all
 * were found; the result says which were. A malformed or truncated stream rejects.
 */
export async function extractLayers(input: Readable, options: ExtractLayersOptions): Promise<ExtractLayersResult> {
  const found = new Set<string>();
  let spooledBytes = 0;
  const remaining = (): number => [...options.wanted].filter((d) => !found.has(d)).length;

  /** Writes an entry (gunzipped when it is gzip) to a temp file while hashing; keeps it when wanted. */
  const spool = async (source: AsyncIterable<Buffer>, gzip: boolean): Promise<void> => {
    const path = join(options.tempDir, `.saved-layer-${randomBytes(8).toString("hex")}.tar`);
    const hash = createHash("sha256");
    let kept = false;
    try {
      const file = await open(path, "wx");
      try {
        // pipeline (not pipe) so a failing source fails the gunzip, too
        const chunks: AsyncIterable<Buffer> = gzip ? pipeline(Readable.from(source), createGunzip({ chunkSize: 1 << 20 }), () => undefined) : source;
        for await (const chunk of chunks) {
          hash.update(chunk);
          spooledBytes += chunk.length;
          await file.write(chunk);
        }
      } finally {
        await file.close();
      }
      const diffId = `sha256:${hash.digest("hex")}`;
      if (options.wanted.has(diffId) && !found.has(diffId)) {
        found.add(diffId);
        kept = true;
        await options.onLayer(diffId, path);
      }
    } finally {
      if (!kept) await rm(path, { force: true });
    }
  };

  try {
    if (remaining() === 0) return { found, spooledBytes };
    const onRead = options.onRead?.bind(options);
    for await (const entry of readTar(counted(input, onRead))) {
      if (entry.type !== "file" || entry.size === 0 || METADATA_NAME.test(entry.name)) {
        await entry.skip();
        continue;
      }
      const named = DIGEST_NAME.exec(entry.name);
      const namedDigest = named ? `sha256:${named[1] ?? named[2] ?? ""}` : undefined;
      const { head, whole } = await peek(entry.content(), SNIFF_BYTES);
      const kind = sniff(head);
      if (kind === "other") {
        await drain(whole);
      } else if (kind === "gzip") {
        await spool(whole, true);
      } else if (namedDigest === undefined || (options.wanted.has(namedDigest) && !found.has(namedDigest))) {
        await spool(whole, false);
      } else {
        await drain(whole); // an uncompressed blob named by its digest: that digest is its diffID, and it is not wanted
      }
      if (remaining() === 0) break;
    }
  } finally {
    input.destroy();
  }
  return { found, spooledBytes };
}
