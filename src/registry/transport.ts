import type { Logger } from "../log/logger.js";
import { authLayer } from "./auth-layer.js";
import type { Credential } from "./credential.js";
import { registryError } from "./error-response.js";
import type { Send } from "./exchange.js";
import { bodyFailure, header, type HttpPool, type HttpResponse, type RequestBody, type TlsOptions } from "./http.js";
import type { Keychain } from "./keychain.js";
import { Pinger } from "./ping.js";
import type { Secrets } from "./redact.js";
import { checkedLocation, redirectLayer } from "./redirect-layer.js";
import { retryLoop, transientRetry } from "./retry-loop.js";
import type { RetryPolicy } from "./retry.js";
import { TokenAuthenticator } from "./token-auth.js";
import { userAgentLayer } from "./user-agent-layer.js";

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
  /**
   * Retry policy of this request, covering the ping and token requests made for it (NO_RETRY when
   * the caller owns retries); the transport's default when omitted.
   */
  readonly retry?: RetryPolicy;
  /** Follow 3xx redirects (blob GET/HEAD). */
  readonly followRedirects?: boolean;
  /** Cancels the request: an exchange in flight, a pending backoff, the ping or token fetch it waits for. */
  readonly signal?: AbortSignal;
  /** Bound on connecting and receiving response headers, per exchange (ping and token ones too). */
  readonly timeoutMs?: number;
}

/** Options of {@link RegistryTransport}. */
export interface TransportOptions {
  readonly registry: string;
  readonly pool: HttpPool;
  readonly keychain: Keychain;
  readonly tls: TlsOptions;
  /** Plain HTTP may be tried after HTTPS fails (insecure or local registries). */
  readonly allowHttp: boolean;
  /** Default retry policy of requests that set none. */
  readonly retry: RetryPolicy;
  readonly userAgent: string;
  readonly logger?: Logger;
  /** Where resolved credentials and tokens are remembered for redaction. */
  readonly secrets?: Secrets;
}

/**
 * All traffic to one registry host, composed here from layers with one job each (outer → inner):
 *
 * - retry (`retry-loop.ts`): the one retry owner of a request; an attempt is ping + exchange + read;
 * - ping (`ping.ts`): the scheme and challenge, one shared `/v2/` exchange, remembered on success;
 * - redirect (`redirect-layer.ts`): follows and checks 3xx answers when asked;
 * - auth (`auth-layer.ts` with `token-auth.ts`): Basic/Bearer, one refresh on 401, registry host only;
 * - user agent (`user-agent-layer.ts`): the User-Agent header and debug log line;
 * - HTTP (`http.ts`): undici, time limits, network errors.
 *
 * Ping and token requests go straight to the user-agent and HTTP layers: they are part of an
 * attempt of the request they serve and are never retried on their own, so attempts never multiply.
 */
export class RegistryTransport {
  private readonly pinger: Pinger;
  private readonly send: Send;

  constructor(private readonly options: TransportOptions) {
    const { registry, allowHttp, secrets } = options;
    const wire = userAgentLayer(options.userAgent, options.logger)((ex) => options.pool.send(ex, options.tls));
    const credential = async (): Promise<Credential> => {
      const cred = await options.keychain.resolve(registry);
      secrets?.addCredential(cred);
      return cred;
    };
    this.pinger = new Pinger({ registry, allowHttp, send: wire, secrets });
    const tokens = new TokenAuthenticator({ registry, allowHttp, credential, send: wire, secrets });
    const auth = authLayer({ registry, challenge: async (call) => (await this.pinger.ping(call)).challenge, credential, tokens });
    this.send = redirectLayer({ allowHttp })(auth(wire));
  }

  /** The registry host. */
  get registry(): string {
    return this.options.registry;
  }

  /** The retry policy of requests that set none. */
  get defaultRetry(): RetryPolicy {
    return this.options.retry;
  }

  /** Sends a request with auth, redirects and retries; returns a response with an expected status. */
  request(req: TransportRequest): Promise<HttpResponse> {
    return this.requestAndRead(req, (res) => Promise.resolve(res));
  }

  /**
   * Like {@link request}, and reads the body with `read` inside the same attempt, so a connection
   * cut mid-body (manifests, token-sized documents) is retried like a reset before the headers.
   */
  requestAndRead<T>(req: TransportRequest, read: (res: HttpResponse) => Promise<T>): Promise<T> {
    const policy = transientRetry(req.retry ?? this.options.retry, this.options.registry, req.signal, this.options.logger);
    return retryLoop(async () => {
      const res = await this.attempt(req);
      try {
        return await read(res);
      } catch (err) {
        throw bodyFailure(req.method, res, err);
      }
    }, policy);
  }

  /** The `Location` header of a response, resolved against its URL and checked like a redirect. */
  location(res: HttpResponse): URL | undefined {
    const value = header(res, "location");
    return value === undefined ? undefined : checkedLocation(value, res.url, { allowHttp: this.options.allowHttp });
  }

  /** One attempt: ping (when not remembered), the exchange through the layers, the status check. */
  private async attempt(req: TransportRequest): Promise<HttpResponse> {
    const call = { signal: req.signal, timeoutMs: req.timeoutMs };
    const { base } = await this.pinger.ping(call);
    const url = typeof req.target === "string" ? new URL(req.target, base) : req.target;
    const res = await this.send({
      method: req.method,
      url,
      headers: req.headers ?? {},
      body: req.body,
      scopes: req.scopes,
      followRedirects: req.followRedirects,
      ...call,
    });
    if (req.expect.includes(res.status)) return res;
    throw await registryError(res, req.method, this.options.secrets);
  }
}
