import type { Descriptor } from "./types.js";

/** The platform an image is selected for when a reference names an index. */
export interface PlatformSelector {
  readonly os: string;
  /** Undefined matches any architecture (the cache image is read for `linux`, any arch). */
  readonly architecture?: string;
  readonly variant?: string;
}

/** Go's GOARCH for this process (`x64` → `amd64`). */
export function hostArchitecture(): string {
  switch (process.arch) {
    case "x64":
      return "amd64";
    case "ia32":
      return "386";
    default:
      return process.arch;
  }
}

/** `linux/<host arch>`, the platform the Go lifecycle opens run and previous images for. */
export function defaultPlatform(): PlatformSelector {
  return { os: "linux", architecture: hostArchitecture() };
}

/** Picks the index entry for a platform (variant compared only when both sides name one). */
export function selectPlatform(manifests: readonly Descriptor[], want: PlatformSelector): Descriptor | undefined {
  return manifests.find((m) => {
    const p = m.platform;
    if (!p) return false;
    if (p.os !== want.os) return false;
    if (want.architecture !== undefined && p.architecture !== want.architecture) return false;
    if (want.variant && p.variant && p.variant !== want.variant) return false;
    return true;
  });
}
