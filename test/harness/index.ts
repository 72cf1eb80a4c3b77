// The test harness: real registries (plain, htpasswd, tls, token), an in-process token server,
// a fault-injecting proxy, fixture images built with umoci and independent checks with skopeo.
// See README.md in this directory for usage.

export { createCleanup, type Cleanup } from "./process/cleanup.js";
export { onProcessExit } from "./process/safety-net.js";
export { makeTempDir, type TempDir } from "./process/temp-dir.js";
export { runTool, runningTools, redactedCommandLine, ToolError, type RunToolOptions, type ToolResult } from "./process/run-tool.js";
export { liveServices, startService, type ServiceExit, type ServiceOptions, type ServiceProcess } from "./process/service.js";
export { groupMembers, isGroupAlive, signalGroup, type ProcessInfo } from "./process/process-group.js";

export type { Credentials, RegistryEndpoint, RegistryKind } from "./registry/registry-kind.js";
export { DEFAULT_CREDENTIALS, startRegistry, type RegistryHandle, type RegistryOptions } from "./registry/start-registry.js";
export {
  ACCEPT_MANIFESTS,
  MANIFEST_MEDIA_TYPES,
  basicAuthorization,
  fetchBearerToken,
  registryAuthorization,
} from "./registry/registry-http.js";
export { generateServerTls, type ServerTls } from "./registry/tls-certs.js";

export { startTokenServer, type TokenRequestRecord, type TokenServer, type TokenServerOptions, type TokenServerSettings, type TokenUser } from "./token/token-server.js";
export { grantAccess, parseScopes, type Access, type AccessGrant } from "./token/scopes.js";
export { decodeTokenClaims, signRegistryToken, type TokenClaims } from "./token/jwt.js";
export { libtrustKeyId } from "./token/libtrust-kid.js";

export { startFaultProxy, type FaultProxy, type FaultProxyOptions } from "./proxy/fault-proxy.js";
export { faults, registryErrorBody, type EchoFormat, type Fault, type ThrottleDirection } from "./proxy/faults.js";
export type { FaultRule, FaultRuleSpec } from "./proxy/fault-rules.js";
export type { ProxyRequestRecord, RequestFilter } from "./proxy/request-log.js";
export type { RedirectListener, RedirectRequestRecord } from "./proxy/redirect-listener.js";

export { busyboxLayer, FIXTURE_MTIME, materializeLayer, userLayer, writeGeneratedFile, type FileSpec, type LayerSpec } from "./fixtures/layer-files.js";
export { buildRunImage, DEFAULT_PATH, runImageLabels, type BuiltImage, type RunImageSpec } from "./fixtures/run-image.js";
export { pushImage } from "./fixtures/push-image.js";
export { addImageIndex } from "./fixtures/multi-arch.js";
export { blobPath, patchLayoutConfig, readLayoutImage, setLayoutTag, writeBlob, type LayoutImage } from "./fixtures/oci-layout.js";

export { ImageConfig, ImageIndex, ImageManifest, Descriptor, Platform } from "./check/oci-schemas.js";
export {
  dockerReference,
  skopeoCopyToLayout,
  skopeoFlags,
  skopeoInspectConfig,
  skopeoInspectRaw,
  skopeoPushLayout,
  type PushOptions,
  type RawManifest,
  type SkopeoAuth,
} from "./check/skopeo.js";
export { umociUnpack, type UnpackedImage } from "./check/umoci.js";
export { statTree, type TreeEntry } from "./check/file-tree.js";

export { startPodmanService, type PodmanService, type PodmanServiceOptions } from "./daemon/podman-service.js";
export { podmanEnv, writePodmanConfig, type PodmanPaths } from "./daemon/podman-config.js";
export { copyIntoDaemon, skopeoDaemonHost } from "./daemon/load-image.js";
export { layerEntries, loadLayerBytes, startEngineProxy, type EngineFault, type EngineProxy, type EngineRequestRecord, type LoadRecord } from "./daemon/engine-proxy.js";
export { TarScanner, type TarScanEntry } from "./daemon/tar-scan.js";

export { useResource, type UseResourceOptions } from "./vitest/use-resource.js";
export { useRegistry } from "./vitest/use-registry.js";
export { useFaultProxy, type UseFaultProxyOptions } from "./vitest/use-fault-proxy.js";
export { useTempDir } from "./vitest/use-temp-dir.js";
export { usePodmanService } from "./vitest/use-podman.js";
export { useEngineProxy } from "./vitest/use-engine-proxy.js";
export { expectNoLeakedProcesses } from "./vitest/expect-no-leaks.js";
