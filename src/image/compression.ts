import { pipeline, type Readable } from "node:stream";
import { createGunzip } from "node:zlib";

/** How a layer blob is compressed, from its media type (OCI and Docker names); undefined when unknown. */
export type Compression = "gzip" | "zstd" | "none";

/** The compression a layer media type says (`…tar+gzip`, `…tar.gzip`, `…+zstd`, `…tar`). */
export function compressionOf(mediaType: string): Compression | undefined {
  if (mediaType.endsWith("+gzip") || mediaType.endsWith(".tar.gzip") || mediaType.endsWith(".tar.gz")) return "gzip";
  if (mediaType.endsWith("+zstd") || mediaType.endsWith(".zstd")) return "zstd";
  if (mediaType.endsWith(".tar")) return "none";
  return undefined;
}

/**
 * The uncompressed tar of a layer blob: gunzipped while streaming, or the blob itself when it is a
 * plain tar. zstd and unknown media types are refused (the blob is not opened).
 */
export async function uncompressedStream(mediaType: string, digest: string, open: () => Promise<Readable>): Promise<Readable> {
  const compression = compressionOf(mediaType);
  if (compression === "zstd") throw new Error(`layer ${digest} is zstd-compressed, which is not supported`);
  if (compression === undefined) throw new Error(`layer ${digest} has unsupported media type ${mediaType}`);
  const blob = await open();
  if (compression === "none") return blob;
  const gunzip = createGunzip();
  pipeline(blob, gunzip, () => undefined);
  return gunzip;
}
