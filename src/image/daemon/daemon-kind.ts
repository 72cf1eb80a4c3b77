// Which kind of daemon answers, from `/_ping` and (Docker only) `/info`: it decides which layers a
// load may leave out (see layer-index.ts).
import type { PingInfo, SystemInfo } from "./engine-schemas.js";

/**
 * - `podman`: podman's Docker-compatible service; reuses any stored layer by diffID, at any position.
 * - `docker`: Docker with a graph driver (overlay2 …); reuses a layer only when the same chain of
 *   layers from the bottom is stored.
 * - `docker-containerd`: Docker with the containerd image store; needs every layer's content.
 */
export type DaemonKind = "podman" | "docker" | "docker-containerd";

/** Whether `/_ping` came from podman (a `Libpod-API-Version` header, or `Server: Libpod/…`). */
export function isPodman(ping: PingInfo): boolean {
  return ping.libpodApiVersion !== undefined || /libpod|podman/i.test(ping.server ?? "");
}

/** Whether `/info` shows Docker's containerd image store (`DriverStatus` `["driver-type","io.containerd.snapshotter.v1"]`). */
export function usesContainerdStore(info: SystemInfo): boolean {
  return (info.DriverStatus ?? []).some(([key, value]) => key === "driver-type" && value === "io.containerd.snapshotter.v1");
}

/** The daemon kind from its ping and (for Docker) its system info. */
export function daemonKind(ping: PingInfo, info: SystemInfo | undefined): DaemonKind {
  if (isPodman(ping)) return "podman";
  return info && usesContainerdStore(info) ? "docker-containerd" : "docker";
}
