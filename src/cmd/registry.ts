import { existsSync } from "node:fs";
import type { Logger } from "../log/logger.js";
import { RegistryClient } from "../registry/client.js";
import type { Keychain } from "../registry/keychain.js";

/** Default directory of per-registry CA certificates (`<dir>/<host:port>/*.crt`), docker's convention. */
const DOCKER_CERTS_DIR = "/etc/docker/certs.d";

/**
 * The registry client for a phase: the keychain, insecure registries, and TLS trust from
 * `SSL_CERT_FILE` / `NODE_EXTRA_CA_CERTS` plus per-registry CAs in `CNB_REGISTRY_CERTS_DIR`
 * (default `/etc/docker/certs.d`).
 */
export function makeRegistryClient(env: NodeJS.ProcessEnv, keychain: Keychain, insecureRegistries: readonly string[], logger: Logger): RegistryClient {
  const certsDir = env.CNB_REGISTRY_CERTS_DIR || (existsSync(DOCKER_CERTS_DIR) ? DOCKER_CERTS_DIR : undefined);
  return new RegistryClient({ keychain, env, insecureRegistries, certsDir, logger });
}
