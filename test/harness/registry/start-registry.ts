import { readFile, writeFile, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { Agent, request, type Dispatcher } from "undici";
import { createCleanup } from "../process/cleanup.js";
import { runTool } from "../process/run-tool.js";
import { startService } from "../process/service.js";
import { makeTempDir } from "../process/temp-dir.js";
import { startTokenServer, type TokenServer, type TokenServerSettings } from "../token/token-server.js";
import { registryConfig, type RegistryConfigInput } from "./registry-config.js";
import type { Credentials, RegistryEndpoint, RegistryKind } from "./registry-kind.js";
import { generateServerTls } from "./tls-certs.js";

/** The user htpasswd and token registries accept unless told otherwise. */
export const DEFAULT_CREDENTIALS: Credentials = { username: "testuser", password: "testpass" };

/** Options for `startRegistry`. */
export interface RegistryOptions {
  /** htpasswd and token kinds: the user with full access (default testuser/testpass). */
  credentials?: Credentials;
  /** token kind: token-server settings; `users` are added to the default user. */
  token?: Partial<TokenServerSettings> & { service?: string; issuer?: string };
  /** Registry log level (default info; the port is parsed from an info line). */
  logLevel?: "info" | "debug";
}

/** A running distribution 2.8 registry started for one test suite. */
export interface RegistryHandle extends RegistryEndpoint {
  readonly kind: RegistryKind;
  /** `http://127.0.0.1:PORT` or `https://127.0.0.1:PORT` */
  readonly url: string;
  /** PEM file of the CA that signed the registry's certificate (tls kind). */
  readonly caPath?: string;
  /** The CA certificate itself (tls kind). */
  readonly caPem?: string;
  /** The registry's temporary directory (config, storage, keys), removed at stop. */
  readonly workDir: string;
  /** Where the registry stores blobs and manifests. */
  readonly storageDir: string;
  /** The token server issuing this registry's tokens (token kind). */
  readonly tokenServer?: TokenServer;
  /** An undici dispatcher that trusts this registry (closed at stop). */
  readonly dispatcher: Dispatcher;
  /** The registry process group (for leak checks). */
  readonly pgid: number;
  /** Everything the registry logged so far (includes the access log). */
  log(): string;
  /** Stops the registry and its token server and removes its directories. */
  stop(): Promise<void>;
}

/** Environment for the registry without REGISTRY_* overrides that would bypass the config file. */
function registryEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("REGISTRY_")));
}

/** Starts a registry of the given kind on an ephemeral port and waits until it answers. */
export async function startRegistry(kind: RegistryKind, options: RegistryOptions = {}): Promise<RegistryHandle> {
  const cleanup = createCleanup();
  try {
    const temp = await makeTempDir(`registry-${kind}`);
    cleanup.add(() => temp.remove());
    const storageDir = join(temp.path, "storage");
    const input: RegistryConfigInput = { storageDir, logLevel: options.logLevel ?? "info" };
    let credentials: Credentials | undefined;
    let tls: Awaited<ReturnType<typeof generateServerTls>> | undefined;
    let tokenServer: TokenServer | undefined;

    if (kind === "htpasswd") {
      credentials = options.credentials ?? DEFAULT_CREDENTIALS;
      const path = join(temp.path, "htpasswd");
      const { stdout } = await runTool("htpasswd", ["-Bin", credentials.username], { input: credentials.password });
      await writeFile(path, stdout);
      input.htpasswd = { realm: "harness-registry", path };
    } else if (kind === "tls") {
      tls = await generateServerTls(join(temp.path, "tls"));
      input.tls = tls;
    } else if (kind === "token") {
      credentials = options.credentials ?? DEFAULT_CREDENTIALS;
      const dir = join(temp.path, "token");
      await mkdir(dir);
      const { users = [], ...rest } = options.token ?? {};
      const server = await startTokenServer({ dir, ...rest, users: [credentials, ...users] });
      tokenServer = server;
      cleanup.add(() => server.stop());
      input.token = { realm: server.realm, service: server.service, issuer: server.issuer, rootCertBundle: server.rootCertBundle };
    }

    const configPath = join(temp.path, "config.yml");
    await writeFile(configPath, registryConfig(input));
    const service = startService({
      name: `docker-registry (${kind})`,
      command: "docker-registry",
      args: ["serve", configPath],
      env: registryEnv(),
      orphanDir: temp.path,
    });
    cleanup.add(() => service.stop());
    const match = await service.waitForLog(/listening on 127\.0\.0\.1:(\d+)/);
    const host = `127.0.0.1:${match[1] ?? ""}`;
    const scheme = kind === "tls" ? "https" : "http";
    const url = `${scheme}://${host}`;
    const caPem = tls ? await readFile(tls.caPath, "utf8") : undefined;
    const dispatcher = new Agent(caPem ? { connect: { ca: caPem } } : {});
    cleanup.add(() => dispatcher.close());

    // The port is logged after listen(); one request proves the server (and TLS) really answers.
    const ping = await request(`${url}/v2/`, { dispatcher });
    await ping.body.dump();

    let stopped: Promise<void> | undefined;
    return {
      kind,
      host,
      scheme,
      url,
      credentials,
      caPath: tls?.caPath,
      caPem,
      certDir: tls?.certDir,
      workDir: temp.path,
      storageDir,
      tokenServer,
      dispatcher,
      pgid: service.pgid,
      log: () => service.log(),
      stop() {
        stopped ??= cleanup.run();
        return stopped;
      },
    };
  } catch (error) {
    await cleanup.run().catch(() => undefined);
    throw error;
  }
}
