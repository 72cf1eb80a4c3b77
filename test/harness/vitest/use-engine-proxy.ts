import { startEngineProxy, type EngineProxy } from "../daemon/engine-proxy.js";
import type { PodmanService } from "../daemon/podman-service.js";
import { useResource } from "./use-resource.js";

/**
 * Starts a counting engine proxy for the suite in front of the unix socket of the service that
 * `service()` returns (call `usePodmanService` first); returns its accessor.
 */
export function useEngineProxy(service: () => PodmanService): () => EngineProxy {
  return useResource("engine proxy", () => {
    const socket = service().socketPath;
    if (socket === undefined) throw new Error("the engine proxy needs a podman service on a unix socket");
    return startEngineProxy(socket);
  });
}
