import type { Readable } from "node:stream";
import { z } from "zod";

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
export const MANIFEST_ACCEPT = [MediaType.OciManifest, MediaType.OciIndex, MediaType.DockerManifest, MediaType.DockerManifestList];

/** Whether a media type is an image index / manifest list. */
export function isIndexMediaType(mediaType: string | undefined): boolean {
  return mediaType === MediaType.OciIndex || mediaType === MediaType.DockerManifestList;
}

export const PlatformSchema = z
  .object({
    architecture: z.string(),
    os: z.string(),
    "os.version": z.string().optional(),
    "os.features": z.array(z.string()).optional(),
    variant: z.string().optional(),
  })
  .loose();
/** An index entry's platform. */
export type Platform = z.infer<typeof PlatformSchema>;

export const DescriptorSchema = z
  .object({
    mediaType: z.string(),
    digest: z.string().regex(/^sha256:[a-f0-9]{64}$/, "expected a sha256 digest"),
    size: z.number().int().nonnegative(),
    annotations: z.record(z.string(), z.string()).optional(),
    urls: z.array(z.string()).optional(),
    platform: PlatformSchema.optional(),
  })
  .loose();
/** An OCI content descriptor. */
export type Descriptor = z.infer<typeof DescriptorSchema>;

export const ManifestSchema = z
  .object({
    schemaVersion: z.literal(2),
    mediaType: z.string().optional(),
    config: DescriptorSchema,
    layers: z.array(DescriptorSchema),
    annotations: z.record(z.string(), z.string()).optional(),
  })
  .loose();
/** An image manifest (OCI or Docker schema 2). */
export type Manifest = z.infer<typeof ManifestSchema>;

export const IndexSchema = z
  .object({
    schemaVersion: z.literal(2),
    mediaType: z.string().optional(),
    manifests: z.array(DescriptorSchema),
    annotations: z.record(z.string(), z.string()).optional(),
  })
  .loose();
/** An image index / manifest list. */
export type ImageIndex = z.infer<typeof IndexSchema>;

export const HistorySchema = z
  .object({
    created: z.string().optional(),
    created_by: z.string().optional(),
    author: z.string().optional(),
    comment: z.string().optional(),
    empty_layer: z.boolean().optional(),
  })
  .loose();
/** One image history entry. */
export type History = z.infer<typeof HistorySchema>;

export const ContainerConfigSchema = z
  .object({
    User: z.string().optional(),
    Env: z.array(z.string()).nullish(),
    Entrypoint: z.array(z.string()).nullish(),
    Cmd: z.array(z.string()).nullish(),
    WorkingDir: z.string().optional(),
    Labels: z.record(z.string(), z.string()).nullish(),
  })
  .loose();
/** The runtime part of an image config (`config`). */
export type ContainerConfig = z.infer<typeof ContainerConfigSchema>;

export const ImageConfigSchema = z
  .object({
    created: z.string().optional(),
    architecture: z.string().optional(),
    os: z.string().optional(),
    "os.version": z.string().optional(),
    variant: z.string().optional(),
    config: ContainerConfigSchema.optional(),
    rootfs: z.object({ type: z.string(), diff_ids: z.array(z.string()) }).loose(),
    history: z.array(HistorySchema).nullish(),
  })
  .loose();
/** An image configuration (unknown fields are kept). */
export type ImageConfig = z.infer<typeof ImageConfigSchema>;

/** A layer: the blob as stored plus its uncompressed identity. */
export interface Layer {
  /** Digest of the blob as stored (compressed). */
  readonly digest: string;
  /** Digest of the uncompressed tar. */
  readonly diffId: string;
  /** Size of the stored blob in bytes. */
  readonly size: number;
  readonly mediaType: string;
  /** Opens the stored blob; the stream errors if its digest or size is wrong. */
  open(): Promise<Readable>;
  /** Opens the uncompressed tar. */
  uncompressed(): Promise<Readable>;
  /** Where the blob lives, when it lives in a registry (lets writers mount instead of copying). */
  readonly source?: { readonly registry: string; readonly repository: string };
}

/** A manifest with the exact bytes it was read from or will be written as. */
export interface ManifestInfo {
  readonly manifest: Manifest;
  readonly raw: Buffer;
  readonly digest: string;
  readonly mediaType: string;
}

/** A config with its exact bytes. */
export interface ConfigInfo {
  readonly config: ImageConfig;
  readonly raw: Buffer;
  readonly digest: string;
}

/** An image: a manifest, a config and layers, wherever it lives. */
export interface Image {
  manifest(): Promise<ManifestInfo>;
  config(): Promise<ConfigInfo>;
  layers(): Promise<Layer[]>;
}
