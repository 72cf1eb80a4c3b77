// The lifecycle image's config: the Go lifecycle image's labels (pack reads the Platform APIs from
// io.buildpacks.lifecycle.apis), working directory /layers, fixed creation time.
import type { History, ImageConfig } from "../../image/types.js";
import type { LifecycleDescriptor } from "./release-tarball.js";
import { NORMALIZED_TIME } from "../../oci/normalized-time.js";

/** The labels of the official lifecycle image. */
export const LABELS = {
  version: "io.buildpacks.lifecycle.version",
  apis: "io.buildpacks.lifecycle.apis",
  builderMetadata: "io.buildpacks.builder.metadata",
} as const;

/** `created` of the config and its history: the Go lifecycle's normalized time. */

/** The PATH of the image (distroless's, as in the Go lifecycle image). */
export const IMAGE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** The three labels, with JSON in Go's field order (what `json.Marshal` writes). */
export function lifecycleLabels(descriptor: LifecycleDescriptor): Record<string, string> {
  const set = (s: { deprecated: string[]; supported: string[] }) => ({ deprecated: s.deprecated, supported: s.supported });
  const { buildpack, platform } = descriptor.apis;
  return {
    [LABELS.apis]: JSON.stringify({ buildpack: set(buildpack), platform: set(platform) }),
    [LABELS.builderMetadata]: JSON.stringify({
      lifecycle: { version: descriptor.lifecycle.version },
      api: { buildpack: buildpack.supported[0], platform: platform.supported[0] },
    }),
    [LABELS.version]: descriptor.lifecycle.version,
  };
}

/** The config of an amd64 lifecycle image with one history entry per layer (diff_ids are filled in later). */
export function lifecycleImageConfig(descriptor: LifecycleDescriptor, layerHistory: readonly string[]): ImageConfig {
  const history: History[] = layerHistory.map((createdBy) => ({ created: NORMALIZED_TIME, created_by: createdBy }));
  return {
    architecture: "amd64",
    os: "linux",
    created: NORMALIZED_TIME,
    config: { Env: [`PATH=${IMAGE_PATH}`], WorkingDir: "/layers", Labels: lifecycleLabels(descriptor) },
    rootfs: { type: "layers", diff_ids: [] },
    history,
  };
}
