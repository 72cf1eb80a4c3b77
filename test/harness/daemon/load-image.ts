import { runTool } from "../process/run-tool.js";
import type { PodmanService } from "./podman-service.js";

/**
 * The `--dest-daemon-host`/`--src-daemon-host` value for skopeo: its docker-daemon transport
 * speaks TLS to `tcp://` hosts, so a plain-HTTP TCP daemon is named `http://host:port`.
 */
export function skopeoDaemonHost(dockerHost: string): string {
  return dockerHost.startsWith("tcp://") ? `http://${dockerHost.slice("tcp://".length)}` : dockerHost;
}

/** Copies an image (`oci:<layout>:<tag>` or any skopeo source) into the daemon under `name` through its API (`skopeo copy … docker-daemon:`). */
export async function copyIntoDaemon(service: PodmanService, source: string, name: string): Promise<void> {
  await runTool("skopeo", ["--insecure-policy", "copy", "--quiet", "--dest-daemon-host", skopeoDaemonHost(service.dockerHost), source, `docker-daemon:${name}`], {
    env: service.env,
  });
}
