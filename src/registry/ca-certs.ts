import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";

/** CA certificates from `SSL_CERT_FILE` (Node only reads NODE_EXTRA_CA_CERTS by itself). */
export function envCaCerts(env: NodeJS.ProcessEnv): string[] {
  const file = env.SSL_CERT_FILE;
  if (!file) return [];
  try {
    return [readFileSync(file, "utf8")];
  } catch {
    return [];
  }
}

/** CA certificates for one registry from a docker-style certs dir: `<dir>/<host:port>/*.crt`. */
export function registryCaCerts(certsDir: string | undefined, registry: string): string[] {
  if (!certsDir) return [];
  const dir = join(certsDir, registry);
  try {
    return readdirSync(dir)
      .filter((f) => f.endsWith(".crt"))
      .sort()
      .map((f) => readFileSync(join(dir, f), "utf8"));
  } catch {
    return [];
  }
}
