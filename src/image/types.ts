import type { Readable } from "node:stream";
import { z } from "zod";
import { SHA256_DIGEST } from "../oci/digest.js";

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
    digest: z.string().regex(SHA256_DIGEST, "expected a sha256 digest"),
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
