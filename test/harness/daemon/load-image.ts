import { runTool } from "../process/run-tool.js";
import type { PodmanService } from "./podman-service.js";

/** Copies an image (`oci:<layout>:<tag>` or any skopeo source) into the daemon under `name` through its API (`skopeo copy … docker-daemon:`). */
export async function copyIntoDaemon(service: PodmanService, source: string, name: string): Promise<void> {
  await runTool("skopeo", ["--insecure-policy", "copy", "--quiet", "--dest-daemon-host", service.dockerHost, source, `docker-daemon:${name}`], {
    env: service.env,
  });
}
