// Daemon mode (`-daemon`): the Engine API client and the image store built on it. Connect the
// client while the phase is still privileged; build the store (with the launch cache) afterwards.
export { EngineClient, type EngineClientOptions } from "./engine-client.js";
export { DaemonStore, type DaemonStoreOptions } from "./daemon-store.js";
export { DaemonImage } from "./daemon-image.js";
export { DaemonLayer } from "./daemon-layer.js";
export { DaemonError, isDaemonError, type DaemonErrorCode } from "./engine-errors.js";
export { DockerHostError, DEFAULT_DOCKER_HOST, parseDockerHost, type DaemonEndpoint } from "./docker-host.js";
export { DaemonNameError } from "./image-names.js";
export type { DaemonKind } from "./daemon-kind.js";
export { emptyDaemonStats, type DaemonStats } from "./daemon-stats.js";
