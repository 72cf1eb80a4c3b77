import { z } from "zod";

const DIGEST = /^sha256:[0-9a-f]{64}$/;

/** An OCI/Docker platform object. */
export const Platform = z.object({
  architecture: z.string(),
  os: z.string(),
  variant: z.string().optional(),
  "os.version": z.string().optional(),
});

/** A content descriptor (manifest, config, layer or index entry). */
export const Descriptor = z.object({
  mediaType: z.string().optional(),
  digest: z.string().regex(DIGEST),
  size: z.number().int().nonnegative(),
  annotations: z.record(z.string(), z.string()).optional(),
  platform: Platform.optional(),
});
/** A parsed content descriptor. */
export type Descriptor = z.infer<typeof Descriptor>;

/** An image manifest (OCI or Docker v2s2). */
export const ImageManifest = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  config: Descriptor,
  layers: z.array(Descriptor),
  annotations: z.record(z.string(), z.string()).optional(),
});
/** A parsed image manifest. */
export type ImageManifest = z.infer<typeof ImageManifest>;

/** An image index / manifest list. */
export const ImageIndex = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  manifests: z.array(Descriptor),
  annotations: z.record(z.string(), z.string()).optional(),
});
/** A parsed image index. */
export type ImageIndex = z.infer<typeof ImageIndex>;

/** An image configuration (as `skopeo inspect --config` prints it). */
export const ImageConfig = z.object({
  created: z.string().optional(),
  architecture: z.string(),
  os: z.string(),
  variant: z.string().optional(),
  "os.version": z.string().optional(),
  config: z
    .object({
      User: z.string().optional(),
      Env: z.array(z.string()).nullish(),
      Labels: z.record(z.string(), z.string()).nullish(),
      Cmd: z.array(z.string()).nullish(),
      Entrypoint: z.array(z.string()).nullish(),
      WorkingDir: z.string().optional(),
    })
    .optional(),
  rootfs: z.object({ type: z.string(), diff_ids: z.array(z.string().regex(DIGEST)) }),
  history: z
    .array(z.object({ created: z.string().optional(), created_by: z.string().optional(), empty_layer: z.boolean().optional() }))
    .optional(),
});
/** A parsed image configuration. */
export type ImageConfig = z.infer<typeof ImageConfig>;
