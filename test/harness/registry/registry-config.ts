import { randomBytes } from "node:crypto";

/** What goes into one registry's configuration file. */
export interface RegistryConfigInput {
  storageDir: string;
  logLevel: "debug" | "info";
  tls?: { certPath: string; keyPath: string };
  htpasswd?: { realm: string; path: string };
  token?: { realm: string; service: string; issuer: string; rootCertBundle: string };
}

/**
 * A distribution 2.8 configuration listening on 127.0.0.1:0, as JSON (which is YAML, so
 * `docker-registry serve` reads it) with deletes enabled and upload purging off.
 */
export function registryConfig(input: RegistryConfigInput): string {
  const http: Record<string, unknown> = { addr: "127.0.0.1:0", secret: randomBytes(16).toString("hex") };
  if (input.tls) http.tls = { certificate: input.tls.certPath, key: input.tls.keyPath };
  const config: Record<string, unknown> = {
    version: "0.1",
    log: { level: input.logLevel, accesslog: { disabled: false } },
    storage: {
      filesystem: { rootdirectory: input.storageDir },
      delete: { enabled: true },
      maintenance: { uploadpurging: { enabled: false } },
    },
    http,
  };
  if (input.htpasswd) config.auth = { htpasswd: input.htpasswd };
  if (input.token) {
    config.auth = {
      token: {
        realm: input.token.realm,
        service: input.token.service,
        issuer: input.token.issuer,
        rootcertbundle: input.token.rootCertBundle,
      },
    };
  }
  return JSON.stringify(config, null, 2);
}
