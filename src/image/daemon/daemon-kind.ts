// Which kind of daemon answers, from `/version` and `/info`: it decides which layers a load may
// leave out (see layer-plan.ts).
import type { SystemInfo, VersionInfo } from "./engine-schemas.js";

/**
 * - `podman`: podman's Docker-compatible service; reuses any stored layer by diffID, at any position.
 * - `docker`: Docker with a graph driver (overlay2 …); reuses a layer only when the same chain of
 *   layers from the bottom is stored.
 * - `docker-containerd`: Docker with the containerd image store; needs every layer's content.
 */
export type DaemonKind = "podman" | "docker" | "docker-containerd";

/** Whether `/version` describes podman (a "Podman Engine" component, or podman in the platform name). */
export function isPodman(version: VersionInfo): boolean {
  const names = [version.Platform?.Name ?? "", ...(version.Components ?? []).map((c) => c.Name)];
  return names.some((name) => /podman/i.test(name));
}

/** Whether `/info` shows Docker's containerd image store (`DriverStatus` `["driver-type","io.containerd.snapshotter.v1"]`). */
export function usesContainerdStore(info: SystemInfo): boolean {
  return (info.DriverStatus ?? []).some(([key, value]) => key === "driver-type" && value === "io.containerd.snapshotter.v1");
}

/** The daemon kind from its version report and (for Docker) its system info. */
export function daemonKind(version: VersionInfo, info: SystemInfo | undefined): DaemonKind {
  if (isPodman(version)) return "podman";
  return info && usesContainerdStore(info) ? "docker-containerd" : "docker";
}
