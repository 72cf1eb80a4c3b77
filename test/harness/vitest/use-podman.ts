import { startPodmanService, type PodmanService, type PodmanServiceOptions } from "../daemon/podman-service.js";
import { useResource } from "./use-resource.js";

/** Starts podman's Docker-compatible API service for the current suite (beforeAll/afterAll); returns its accessor. */
export function usePodmanService(options?: PodmanServiceOptions): () => PodmanService {
  return useResource(`podman service (${options?.listen ?? "unix"})`, () => startPodmanService(options), { logOnFailure: (s) => s.log() });
}
