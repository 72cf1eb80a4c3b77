import { startRegistry, type RegistryHandle, type RegistryOptions } from "../registry/start-registry.js";
import type { RegistryKind } from "../registry/registry-kind.js";
import { useResource } from "./use-resource.js";

/** Starts a registry of `kind` for the current suite (beforeAll/afterAll); returns its accessor. */
export function useRegistry(kind: RegistryKind, options?: RegistryOptions): () => RegistryHandle {
  return useResource(`registry (${kind})`, () => startRegistry(kind, options), { logOnFailure: (r) => r.log() });
}
