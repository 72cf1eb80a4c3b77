import type { Logger } from "../log/logger.js";
import { versionString } from "../version.js";
import { httpAllowedByDefault, matchesInsecure } from "./hosts.js";
import { HttpPool, registryCaCerts, type HttpResponse } from "./http.js";
import type { Keychain } from "./keychain.js";
import { Reference } from "./reference.js";
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from "./retry.js";
import { RegistryTransport, type TransportRequest } from "./transport.js";

/** Options shared by every registry a phase talks to. */
export interface RegistryClientOptions {
  readonly keychain: Keychain;
  /** Process environment (for `SSL_CERT_FILE`). */
  readonly env?: NodeJS.ProcessEnv;
  /** `-insecure-registry` / `CNB_INSECURE_REGISTRIES` prefixes, matched against references as written. */
  readonly insecureRegistries?: readonly string[];
  /** Docker-style per-registry CA directory: `<certsDir>/<host:port>/*.crt`. */
  readonly certsDir?: string;
  readonly retry?: RetryPolicy;
  readonly logger?: Logger;
}

/** Access wanted on a repository: it decides the token scopes (push scope first). */
export interface RepositoryAccess {
  readonly push?: boolean;
  /** Other repositories on the same registry whose blobs may be mounted (pull scope). */
  readonly mountFrom?: readonly string[];
  /** Retry policy for this repository's requests (e.g. NO_RETRY inside `openRemoteImage`). */
  readonly retry?: RetryPolicy;
}

/**
 * The registry client of one phase run: one transport (connection pool, ping, tokens) per registry
 * host and security setting, and repository handles that scope requests.
 */
export class RegistryClient {
  private readonly pool: HttpPool;
  private readonly transports = new Map<string, RegistryTransport>();
  readonly userAgent = `cnb-lifecycle-ts/${versionString()}`;

  constructor(readonly options: RegistryClientOptions) {
    this.pool = new HttpPool(options.env ?? {});
  }

  /** Whether a reference (as written) is on an insecure registry. */
  isInsecure(reference: string): boolean {
    return matchesInsecure(reference, this.options.insecureRegistries ?? []);
  }

  /** The transport for a registry host. */
  transport(registry: string, insecure = false): RegistryTransport {
    const key = `${registry}|${insecure ? "insecure" : "secure"}`;
    let t = this.transports.get(key);
    if (!t) {
      t = new RegistryTransport({
        registry,
        pool: this.pool,
        keychain: this.options.keychain,
        tls: { insecure, ca: registryCaCerts(this.options.certsDir, registry) },
        allowHttp: insecure || httpAllowedByDefault(registry),
        retry: this.options.retry ?? DEFAULT_RETRY_POLICY,
        userAgent: this.userAgent,
        logger: this.options.logger,
      });
      this.transports.set(key, t);
    }
    return t;
  }

  /** A handle on the repository of `ref` with the requested access. */
  repository(ref: Reference | string, access: RepositoryAccess = {}): Repository {
    const r = typeof ref === "string" ? Reference.parse(ref) : ref;
    return new Repository(this.transport(r.registry, this.isInsecure(r.original)), r.repository, access);
  }

  /** Closes every pooled connection. */
  async close(): Promise<void> {
    await this.pool.close();
  }
}

/** One repository on one registry, with the token scopes its access needs. */
export class Repository {
  constructor(
    readonly transport: RegistryTransport,
    readonly name: string,
    readonly access: RepositoryAccess,
  ) {}

  get registry(): string {
    return this.transport.registry;
  }

  /** Token scopes: push scope first because some registries only look at the first scope. */
  scopes(extraPull: readonly string[] = []): string[] {
    const own = this.access.push ? `repository:${this.name}:push,pull` : `repository:${this.name}:pull`;
    const pulls = [...(this.access.mountFrom ?? []), ...extraPull]
      .filter((r) => r !== this.name)
      .map((r) => `repository:${r}:pull`);
    return [own, ...new Set(pulls)];
  }

  /** `/v2/<repo>/<kind>/<ref>`. */
  path(kind: "manifests" | "blobs", ref: string): string {
    return `/v2/${this.name}/${kind}/${ref}`;
  }

  /** Sends a request in this repository's scope (and retry policy unless the request sets one). */
  request(req: Omit<TransportRequest, "scopes"> & { scopes?: readonly string[] }): Promise<HttpResponse> {
    return this.transport.request({ ...req, scopes: req.scopes ?? this.scopes(), retry: req.retry ?? this.access.retry });
  }

  /** Sends a request and reads its body with `read`, both inside the transport's retry loop. */
  requestAndRead<T>(req: Omit<TransportRequest, "scopes"> & { scopes?: readonly string[] }, read: (res: HttpResponse) => Promise<T>): Promise<T> {
    return this.transport.requestAndRead({ ...req, scopes: req.scopes ?? this.scopes(), retry: req.retry ?? this.access.retry }, read);
  }

  /** The same repository with different access. */
  with(access: RepositoryAccess): Repository {
    return new Repository(this.transport, this.name, { ...this.access, ...access });
  }
}
