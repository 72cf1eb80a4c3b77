// OCI and Docker media types: the one list of what the lifecycle reads and writes, and the one rule
// for telling what a manifest document is.

/** Media types the lifecycle reads and writes. */
export const MediaType = {
  OciManifest: "application/vnd.oci.image.manifest.v1+json",
  OciIndex: "application/vnd.oci.image.index.v1+json",
  OciConfig: "application/vnd.oci.image.config.v1+json",
  OciLayerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  OciLayer: "application/vnd.oci.image.layer.v1.tar",
  DockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  DockerManifestList: "application/vnd.docker.distribution.manifest.list.v2+json",
  DockerConfig: "application/vnd.docker.container.image.v1+json",
  DockerLayerGzip: "application/vnd.docker.image.rootfs.diff.tar.gzip",
  DockerLayer: "application/vnd.docker.image.rootfs.diff.tar",
  DockerForeignLayer: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
} as const;

/** Every manifest and index type, for `Accept` headers (never schema 1). */
export const MANIFEST_ACCEPT: readonly string[] = [MediaType.OciManifest, MediaType.OciIndex, MediaType.DockerManifest, MediaType.DockerManifestList];

/** Whether a media type is an image index / manifest list. */
export function isIndexMediaType(mediaType: string | undefined): boolean {
  return mediaType === MediaType.OciIndex || mediaType === MediaType.DockerManifestList;
}

/**
 * The media type of a manifest or index document: its own `mediaType` field; else what it was
 * declared as (a registry's Content-Type, a descriptor's type) when that is a manifest or index type
 * that agrees with the document's shape; else its shape (umoci writes OCI documents without the
 * field). A document that is not JSON keeps what it was declared as.
 */
export function manifestMediaType(raw: Uint8Array, declared: string | undefined): string {
  const hint = declared?.split(";")[0]?.trim() || undefined;
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(raw).toString("utf8"));
  } catch {
    return hint ?? "";
  }
  const fields = (typeof doc === "object" && doc !== null ? doc : {}) as { mediaType?: unknown; manifests?: unknown };
  if (typeof fields.mediaType === "string" && fields.mediaType !== "") return fields.mediaType;
  const isIndex = Array.isArray(fields.manifests);
  if (hint !== undefined && MANIFEST_ACCEPT.includes(hint) && isIndexMediaType(hint) === isIndex) return hint;
  return isIndex ? MediaType.OciIndex : MediaType.OciManifest;
}
