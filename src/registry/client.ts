import type { Logger } from "../log/logger.js";
import { versionString } from "../version.js";
import { registryCaCerts } from "./ca-certs.js";
import { httpAllowedByDefault, matchesInsecure } from "./hosts.js";
import { HttpPool, type HttpResponse } from "./http.js";
import type { Keychain } from "./keychain.js";
import { Secrets } from "./redact.js";
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

/** Options of one request, or defaults for every request of a repository handle. */
export interface RequestOptions {
  /** Retry policy, covering the ping and token requests made on the request's behalf (NO_RETRY when the caller owns retries). */
  readonly retry?: RetryPolicy;
  /** Cancels in-flight exchanges and pending backoffs. */
  readonly signal?: AbortSignal;
  /** Bound on connecting and receiving response headers, per exchange, in milliseconds. */
  readonly timeoutMs?: number;
}

/** Access wanted on a repository (it decides the token scopes, push scope first) and defaults for its requests. */
export interface RepositoryAccess extends RequestOptions {
  readonly push?: boolean;
  /** Other repositories on the same registry whose blobs may be mounted (pull scope). */
  readonly mountFrom?: readonly string[];
}

/** A request of a {@link Repository}: scopes default to the repository's, options to its access. */
export type RepositoryRequest = Omit<TransportRequest, "scopes"> & { scopes?: readonly string[] };

/**
 * The registry client of one phase run: one transport (connection pool, ping, tokens) per registry
 * host and security setting, and repository handles that scope requests.
 */
export class RegistryClient {
  private readonly pool: HttpPool;
  private readonly transports = new Map<string, RegistryTransport>();
  /** Every credential and token this client handled, cut out of registry error texts. */
  private readonly secrets = new Secrets();
  readonly userAgent = `cnb-lifecycle-ts/${versionString()}`;

  constructor(readonly options: RegistryClientOptions) {
    this.pool = new HttpPool(options.env ?? {});
  }

  /** Whether a reference (as written) is on an insecure registry. */
  isInsecure(reference: string): boolean {
    return matchesInsecure(reference, this.options.insecureRegistries ?? []);
  }

  /** The transport for a registry host. */
  private transport(registry: string, insecure: boolean): RegistryTransport {
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
        secrets: this.secrets,
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
    private readonly transport: RegistryTransport,
    readonly name: string,
    readonly access: RepositoryAccess,
  ) {}

  get registry(): string {
    return this.transport.registry;
  }

  /** The retry policy of this repository's requests: its access's, else the client's. */
  get retry(): RetryPolicy {
    return this.access.retry ?? this.transport.defaultRetry;
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

  /** Sends a request in this repository's scope, with its access's options unless the request sets them. */
  request(req: RepositoryRequest): Promise<HttpResponse> {
    return this.transport.request(this.complete(req));
  }

  /** Sends a request and reads its body with `read`, both inside one retried attempt. */
  requestAndRead<T>(req: RepositoryRequest, read: (res: HttpResponse) => Promise<T>): Promise<T> {
    return this.transport.requestAndRead(this.complete(req), read);
  }

  /** A response's `Location` (upload sessions), resolved against its URL and checked like a redirect. */
  location(res: HttpResponse): URL | undefined {
    return this.transport.location(res);
  }

  /** The same repository with different access. */
  with(access: RepositoryAccess): Repository {
    return new Repository(this.transport, this.name, { ...this.access, ...access });
  }

  private complete(req: RepositoryRequest): TransportRequest {
    const signals = [this.access.signal, req.signal].filter((s): s is AbortSignal => s !== undefined);
    return {
      ...req,
      scopes: req.scopes ?? this.scopes(),
      retry: req.retry ?? this.access.retry,
      timeoutMs: req.timeoutMs ?? this.access.timeoutMs,
      signal: signals.length > 1 ? AbortSignal.any(signals) : signals[0],
    };
  }
}
