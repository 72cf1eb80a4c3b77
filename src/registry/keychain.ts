import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import {
  ANONYMOUS,
  basicCredential,
  bearerCredential,
  credentialFromHeader,
  identityCredential,
  type Credential,
} from "./credential.js";
import { DOCKER_HUB } from "./reference.js";

/** Supplies credentials for a registry host (`index.docker.io`, `localhost:5000`). */
export interface Keychain {
  resolve(registry: string): Promise<Credential>;
}

/** A keychain that is always anonymous. */
export const anonymousKeychain: Keychain = { resolve: () => Promise.resolve(ANONYMOUS) };

/** A keychain failure with a message that never contains a secret. */
export class KeychainError extends Error {
  override name = "KeychainError";
}

/** Normalises a CNB_REGISTRY_AUTH / docker config key to a registry host (drops scheme and path). */
export function registryKey(key: string): string {
  let k = key.trim().replace(/^https?:\/\//, "");
  const slash = k.indexOf("/");
  if (slash >= 0) k = k.slice(0, slash);
  if (k === "docker.io" || k === "registry-1.docker.io") k = DOCKER_HUB;
  return k;
}

/** Parses CNB_REGISTRY_AUTH (JSON object registry → Authorization value); throws a secret-free error. */
export function parseRegistryAuthEnv(value: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (value === undefined || value.trim() === "") return out;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    // JSON.parse messages quote the input, which holds credentials: say only what is wrong
    throw new KeychainError("failed to parse CNB_REGISTRY_AUTH value: not valid JSON");
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new KeychainError("failed to parse CNB_REGISTRY_AUTH value: expected a JSON object of registry to auth header");
  }
  for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
    if (typeof v !== "string") {
      throw new KeychainError(`failed to parse CNB_REGISTRY_AUTH value: the value for '${k}' is not a string`);
    }
    out.set(registryKey(k), v);
  }
  return out;
}

const AuthEntry = z
  .object({
    auth: z.string().optional(),
    username: z.string().optional(),
    password: z.string().optional(),
    identitytoken: z.string().optional(),
    registrytoken: z.string().optional(),
  })
  .loose();

const DockerConfig = z
  .object({
    auths: z.record(z.string(), AuthEntry).optional(),
    credHelpers: z.record(z.string(), z.string()).optional(),
    credsStore: z.string().optional(),
  })
  .loose();
type DockerConfig = z.infer<typeof DockerConfig>;

const HelperOutput = z.object({ Username: z.string().optional(), Secret: z.string().optional() }).loose();

/** Runs `docker-credential-<helper> get` for a server URL; resolves undefined when it has nothing. */
export type HelperRunner = (
  helper: string,
  serverUrl: string,
  env: NodeJS.ProcessEnv,
) => Promise<{ username: string; secret: string } | undefined>;

/** The default helper runner: executes `docker-credential-<helper> get` from PATH with a 30 s timeout. */
export const execHelper: HelperRunner = (helper, serverUrl, env) =>
  new Promise((resolve, reject) => {
    const child = execFile(
      `docker-credential-${helper}`,
      ["get"],
      { timeout: 30_000, maxBuffer: 1 << 20, env },
      (err, stdout) => {
        if (err) {
          if (/credentials not found/i.test(stdout) || /credentials not found/i.test(String(err.message))) {
            resolve(undefined);
            return;
          }
          reject(new KeychainError(`credential helper 'docker-credential-${helper}' failed for ${serverUrl}`));
          return;
        }
        let json: unknown;
        try {
          json = JSON.parse(stdout);
        } catch {
          reject(new KeychainError(`credential helper 'docker-credential-${helper}' returned invalid JSON`));
          return;
        }
        const parsed = HelperOutput.safeParse(json);
        if (!parsed.success || !parsed.data.Secret) {
          resolve(undefined);
          return;
        }
        resolve({ username: parsed.data.Username ?? "", secret: parsed.data.Secret });
      },
    );
    child.stdin?.end(serverUrl);
  });

/** The docker-config server URL for a registry (Docker Hub uses the legacy v1 URL). */
function serverUrlFor(registry: string): string {
  return registry === DOCKER_HUB ? "https://index.docker.io/v1/" : registry;
}

function credentialFromEntry(entry: z.infer<typeof AuthEntry>): Credential | undefined {
  if (entry.identitytoken) return identityCredential(entry.identitytoken, entry.username);
  if (entry.registrytoken) return bearerCredential(entry.registrytoken);
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon > 0) return basicCredential(decoded.slice(0, colon), decoded.slice(colon + 1));
  }
  if (entry.username && entry.password) return basicCredential(entry.username, entry.password);
  return undefined;
}

/** Options of {@link DefaultKeychain}. */
export interface KeychainOptions {
  readonly env: NodeJS.ProcessEnv;
  readonly runHelper?: HelperRunner;
}

/**
 * The lifecycle keychain (contract §8): `CNB_REGISTRY_AUTH` first, then the docker config
 * (`$DOCKER_CONFIG/config.json` or `~/.docker/config.json`, else podman's `auth.json`) with `auths`,
 * `credHelpers` and `credsStore`, else anonymous. Docker-config answers are cached, so {@link prime}
 * before a privilege drop resolves them while the files and helpers are still reachable.
 */
export class DefaultKeychain implements Keychain {
  private readonly envAuth: Map<string, string>;
  private readonly cache = new Map<string, Promise<Credential>>();
  private config: Promise<DockerConfig | undefined> | undefined;
  private readonly runHelper: HelperRunner;

  constructor(private readonly options: KeychainOptions) {
    this.envAuth = parseRegistryAuthEnv(options.env.CNB_REGISTRY_AUTH);
    this.runHelper = options.runHelper ?? execHelper;
  }

  /** Resolves credentials for several registries now (before dropping privileges). */
  async prime(registries: Iterable<string>): Promise<void> {
    await Promise.all([...new Set(registries)].map((r) => this.resolve(r)));
  }

  resolve(registry: string): Promise<Credential> {
    const key = registryKey(registry);
    const header = this.envAuth.get(key);
    if (header !== undefined) {
      try {
        return Promise.resolve(credentialFromHeader(header));
      } catch (err) {
        return Promise.reject(err instanceof Error ? err : new KeychainError(String(err)));
      }
    }
    let cached = this.cache.get(key);
    if (!cached) {
      cached = this.fromDockerConfig(key);
      this.cache.set(key, cached);
    }
    return cached;
  }

  private loadConfig(): Promise<DockerConfig | undefined> {
    this.config ??= (async () => {
      const env = this.options.env;
      const home = env.HOME && env.HOME !== "" ? env.HOME : homedir();
      const candidates = [
        ...(env.DOCKER_CONFIG ? [join(env.DOCKER_CONFIG, "config.json")] : []),
        join(home, ".docker", "config.json"),
        ...(env.XDG_RUNTIME_DIR ? [join(env.XDG_RUNTIME_DIR, "containers", "auth.json")] : []),
      ];
      for (const path of candidates) {
        let text: string;
        try {
          text = await readFile(path, "utf8");
        } catch {
          continue;
        }
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          throw new KeychainError(`failed to parse docker config ${path}: not valid JSON`);
        }
        const parsed = DockerConfig.safeParse(json);
        if (!parsed.success) throw new KeychainError(`failed to parse docker config ${path}: unexpected structure`);
        return parsed.data;
      }
      return undefined;
    })();
    return this.config;
  }

  private async fromDockerConfig(registry: string): Promise<Credential> {
    const config = await this.loadConfig();
    if (!config) return ANONYMOUS;
    const serverUrl = serverUrlFor(registry);
    const helper = Object.entries(config.credHelpers ?? {}).find(([k]) => registryKey(k) === registry)?.[1];
    for (const name of [helper, config.credsStore]) {
      if (!name) continue;
      const got = await this.runHelper(name, serverUrl, this.options.env);
      if (got) return got.username === "<token>" ? identityCredential(got.secret) : basicCredential(got.username, got.secret);
      if (name === helper) return ANONYMOUS;
    }
    const auths = config.auths ?? {};
    const entry = auths[serverUrl] ?? Object.entries(auths).find(([k]) => registryKey(k) === registry)?.[1];
    return (entry && credentialFromEntry(entry)) ?? ANONYMOUS;
  }
}
