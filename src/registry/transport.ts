import type { Logger } from "../log/logger.js";
import { parseChallenges, pickChallenge, type Challenge } from "./challenge.js";
import { NetworkError, RegistryError, redactUrl, type RegistryDiagnostic } from "./errors.js";
import { isPrivateHost } from "./hosts.js";
import { discard, header, headerValues, readForError, toNetworkError, type HttpPool, type HttpResponse, type RequestBody, type TlsOptions } from "./http.js";
import type { Keychain } from "./keychain.js";
import { delayFor, parseRetryAfter, sleep, type RetryPolicy } from "./retry.js";
import { TokenAuthenticator } from "./token-auth.js";

/** One logical request to a registry; the transport adds auth, follows redirects and retries. */
export interface TransportRequest {
  readonly method: string;
  /** A path under the registry (`/v2/...`) or an absolute URL (upload locations). */
  readonly target: string | URL;
  readonly headers?: Record<string, string>;
  readonly body?: RequestBody;
  /** Token scopes, push scope first (`repository:app:push,pull`, `repository:run:pull`). */
  readonly scopes: readonly string[];
  /** Statuses that count as success; anything else becomes a RegistryError. */
  readonly expect: readonly number[];
  /** Override of the transport's retry policy (e.g. NO_RETRY when the caller owns retries). */
  readonly retry?: RetryPolicy;
  /** Follow 3xx redirects (blob GET/HEAD). */
  readonly followRedirects?: boolean;
  readonly signal?: AbortSignal;
}

/** Options of {@link RegistryTransport}. */
export interface TransportOptions {
  readonly registry: string;
  readonly pool: HttpPool;
  readonly keychain: Keychain;
  readonly tls: TlsOptions;
  /** Plain HTTP may be tried after HTTPS fails (insecure or local registries). */
  readonly allowHttp: boolean;
  readonly retry: RetryPolicy;
  readonly userAgent: string;
  readonly logger?: Logger;
}

interface PingResult {
  readonly base: URL;
  readonly challenge: Challenge | undefined;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** Whether two token scopes are the same resource and actions (`pull,push` equals `push,pull`). */
export function sameScope(a: string, b: string): boolean {
  const split = (s: string) => {
    const i = s.lastIndexOf(":");
    return { resource: s.slice(0, i), actions: s.slice(i + 1).split(",").sort().join(",") };
  };
  const x = split(a);
  const y = split(b);
  return x.resource === y.resource && x.actions === y.actions;
}
/** Error codes of a response body that broke off (the connection, not the content, failed). */
const BODY_FAILURES = /^(ECONNRESET|EPIPE|ETIMEDOUT|UND_ERR_SOCKET|UND_ERR_BODY_TIMEOUT|UND_ERR_RES_CONTENT_LENGTH_MISMATCH|UND_ERR_CLOSED)$/;

/** Parses a registry error response into a RegistryError (reads at most 64 KiB of the body). */
export async function registryError(res: HttpResponse, method: string): Promise<RegistryError> {
  const body = method === "HEAD" ? "" : await readForError(res);
  if (method === "HEAD") await discard(res);
  let diagnostics: RegistryDiagnostic[] = [];
  let raw = body;
  try {
    const json = JSON.parse(body) as { errors?: unknown };
    if (Array.isArray(json.errors)) {
      diagnostics = json.errors
        .filter((e): e is { code: unknown; message?: unknown; detail?: unknown } => typeof e === "object" && e !== null)
        .map((e) => ({ code: String(e.code), message: typeof e.message === "string" ? e.message : "", detail: e.detail }));
      raw = "";
    }
  } catch {
    // a non-JSON body (proxies, CDNs) is kept as text
  }
  const retryAfterMs = parseRetryAfter(header(res, "retry-after"));
  return new RegistryError(method, redactUrl(res.url), res.status, diagnostics, raw, retryAfterMs);
}

/**
 * All traffic to one registry host: a memoised ping that picks https (or http for insecure/local
 * registries) and learns the auth challenge, Basic or Bearer auth with one token refresh on 401,
 * redirects that never carry Authorization to another host, and the only retry loop for a request.
 */
export class RegistryTransport {
  private pinged: Promise<PingResult> | undefined;
  private challenge: Challenge | undefined;
  private readonly tokens: TokenAuthenticator;

  constructor(readonly options: TransportOptions) {
    this.tokens = new TokenAuthenticator({
      registry: options.registry,
      allowHttp: options.allowHttp,
      credential: () => options.keychain.resolve(options.registry),
      send: (req) => this.withRetry(this.options.retry, req.signal, () => this.dispatch(req.method, req.url, req.headers ?? {}, req.body, req.signal)),
      userAgent: options.userAgent,
    });
  }

  get registry(): string {
    return this.options.registry;
  }

  /** `scheme://registry`, after the ping decided the scheme. */
  async baseUrl(signal?: AbortSignal): Promise<URL> {
    return (await this.ping(signal)).base;
  }

  /** Pings `/v2/` once per process (failures are not memoised). */
  ping(signal?: AbortSignal): Promise<PingResult> {
    if (!this.pinged) {
      this.pinged = this.withRetry(this.options.retry, signal, () => this.pingOnce(signal));
      this.pinged.catch(() => {
        this.pinged = undefined;
      });
    }
    return this.pinged;
  }

  private async pingOnce(signal?: AbortSignal): Promise<PingResult> {
    const schemes = this.options.allowHttp ? ["https:", "http:"] : ["https:"];
    let firstError: unknown;
    for (const scheme of schemes) {
      const base = new URL(`${scheme}//${this.options.registry}`);
      let res: HttpResponse;
      try {
        res = await this.dispatch("GET", new URL("/v2/", base), {}, undefined, signal);
      } catch (err) {
        firstError ??= err;
        continue;
      }
      if (res.status === 200) {
        await discard(res);
        return { base, challenge: undefined };
      }
      if (res.status === 401) {
        const challenge = pickChallenge(parseChallenges(headerValues(res, "www-authenticate")));
        await discard(res);
        this.challenge = challenge;
        return { base, challenge };
      }
      const err = await registryError(res, "GET");
      // a TLS registry answers plain HTTP with 400; report the HTTPS failure instead
      if (firstError instanceof NetworkError && !firstError.temporary) throw firstError;
      throw err;
    }
    throw firstError instanceof Error ? firstError : new Error(`failed to reach registry ${this.options.registry}`);
  }

  /** Sends a request with auth, redirects and retries; returns a response with an expected status. */
  async request(req: TransportRequest): Promise<HttpResponse> {
    return this.withRetry(req.retry ?? this.options.retry, req.signal, async () => {
      const res = await this.attempt(req);
      if (req.expect.includes(res.status)) return res;
      throw await registryError(res, req.method);
    });
  }

  /**
   * Like {@link request}, and reads the body with `read` inside the same retry loop, so a connection
   * cut mid-body (manifests, token-sized documents) is retried like a reset before the headers.
   */
  async requestAndRead<T>(req: TransportRequest, read: (res: HttpResponse) => Promise<T>): Promise<T> {
    return this.withRetry(req.retry ?? this.options.retry, req.signal, async () => {
      const res = await this.attempt(req);
      if (!req.expect.includes(res.status)) throw await registryError(res, req.method);
      try {
        return await read(res);
      } catch (err) {
        const code = (err as { code?: unknown } | undefined)?.code;
        if (typeof code === "string" && BODY_FAILURES.test(code)) throw toNetworkError(req.method, res.url, err);
        throw err;
      }
    });
  }

  private async withRetry<T>(policy: RetryPolicy, signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        const transient = (err instanceof RegistryError || err instanceof NetworkError) && err.temporary;
        if (!transient || attempt >= policy.attempts || signal?.aborted) throw err;
        const delay = delayFor(policy, attempt, err, this.options.registry);
        this.options.logger?.debug(`Retrying in ${delay}ms (attempt ${attempt + 1}/${policy.attempts}) after: ${(err as Error).message}`);
        await sleep(delay, signal);
      }
    }
  }

  /** One attempt: auth header, send, one token refresh on 401, redirects. */
  private async attempt(req: TransportRequest): Promise<HttpResponse> {
    const { base, challenge: pingChallenge } = await this.ping(req.signal);
    let url = typeof req.target === "string" ? new URL(req.target, base) : req.target;
    let challenge = this.challenge ?? pingChallenge;
    let scopes = req.scopes;
    let auth = await this.authorization(challenge, scopes);
    let res = await this.send(req, url, auth);
    if (res.status === 401) {
      const fresh = pickChallenge(parseChallenges(headerValues(res, "www-authenticate")));
      if (fresh) {
        this.challenge = challenge = fresh;
        const extra = fresh.params.scope;
        // the challenged scope goes first: some registries only look at the first scope
        if (extra && !scopes.some((s) => sameScope(s, extra))) scopes = [extra, ...scopes];
        if (challenge.scheme === "bearer") this.tokens.invalidate(req.scopes);
        const retried = await this.authorization(challenge, scopes);
        // re-send only with different credentials: the same Basic header or static token would
        // just fail again (and count twice against lockout policies)
        if (retried !== undefined && retried !== auth) {
          await discard(res);
          auth = retried;
          res = await this.send(req, url, auth);
        }
      }
    }
    for (let hops = 0; req.followRedirects && REDIRECTS.has(res.status) && hops < 5; hops++) {
      const location = header(res, "location");
      if (!location) break;
      await discard(res);
      url = this.checkedLocation(location, url);
      res = await this.send(req, url, auth);
    }
    return res;
  }

  private send(req: TransportRequest, url: URL, auth: string | undefined): Promise<HttpResponse> {
    const headers: Record<string, string> = { "user-agent": this.options.userAgent, ...req.headers };
    // credentials only ever go to the registry host itself (not to blob redirects or upload hosts)
    if (auth !== undefined && url.host === this.options.registry) headers.authorization = auth;
    return this.dispatch(req.method, url, headers, req.body, req.signal);
  }

  private dispatch(method: string, url: URL, headers: Record<string, string>, body: RequestBody | undefined, signal?: AbortSignal): Promise<HttpResponse> {
    this.options.logger?.debug(`${method} ${redactUrl(url)}`);
    return this.options.pool.send({ method, url, headers, body, signal }, this.options.tls);
  }

  /** Resolves a `Location` header and refuses redirects from a public registry to private addresses. */
  checkedLocation(location: string, from: URL): URL {
    const next = new URL(location, from);
    if (next.protocol !== "https:" && next.protocol !== "http:") throw new Error(`refusing redirect to ${redactUrl(next)}`);
    if (next.protocol === "http:" && from.protocol === "https:" && !this.options.allowHttp) {
      throw new Error(`refusing redirect from https to http: ${redactUrl(next)}`);
    }
    if (isPrivateHost(next.hostname) && !isPrivateHost(from.hostname)) {
      throw new Error(`refusing redirect from ${from.host} to a private address: ${redactUrl(next)}`);
    }
    return next;
  }

  private async authorization(challenge: Challenge | undefined, scopes: readonly string[]): Promise<string | undefined> {
    if (!challenge) return undefined;
    if (challenge.scheme === "bearer") return `Bearer ${await this.tokens.token(challenge, scopes)}`;
    if (challenge.scheme === "basic") {
      const cred = await this.options.keychain.resolve(this.options.registry);
      if (cred.kind === "basic") return `Basic ${Buffer.from(`${cred.username}:${cred.password}`).toString("base64")}`;
      if (cred.kind === "bearer") return `Bearer ${cred.token}`;
    }
    return undefined;
  }
}
