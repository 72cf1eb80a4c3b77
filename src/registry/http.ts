import { createHash } from "node:crypto";
import { rootCertificates } from "node:tls";
import type { Readable } from "node:stream";
import { Agent, type Dispatcher } from "undici";
import { envCaCerts } from "./ca-certs.js";
import { startDeadline } from "./deadline.js";
import { isBrokenConnection, NetworkError, redactUrl } from "./errors.js";

/** A response whose body has not been read yet; callers must read or dump it. */
export interface HttpResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Dispatcher.ResponseData["body"];
  readonly url: URL;
}

/** What a request body may be: bytes, or a factory that opens a fresh stream for each attempt. */
export type RequestBody = Uint8Array | string | (() => Readable | Promise<Readable>);

/** One HTTP exchange. */
export interface HttpRequest {
  readonly method: string;
  readonly url: URL;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: RequestBody;
  /** Cancels the exchange, also while its body is read. */
  readonly signal?: AbortSignal;
  /** Bound on connecting and receiving the response headers, in milliseconds (none: the pool's own limits). */
  readonly timeoutMs?: number;
}

/** TLS settings for one registry. */
export interface TlsOptions {
  /** Skip certificate verification (insecure registries only). */
  readonly insecure: boolean;
  /** Extra CA certificates (PEM) trusted for this registry. */
  readonly ca: readonly string[];
}

/** First value of a header. */
export function header(res: { headers: HttpResponse["headers"] }, name: string): string | undefined {
  const v = res.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

/** All values of a header. */
export function headerValues(res: { headers: HttpResponse["headers"] }, name: string): string[] {
  const v = res.headers[name.toLowerCase()];
  if (v === undefined) return [];
  return Array.isArray(v) ? v : [v];
}

/** Reads a response body up to `limit` bytes; throws when the body is larger. */
export async function readCapped(res: HttpResponse, limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of res.body) {
    const buf = chunk as Buffer;
    total += buf.length;
    if (total > limit) {
      res.body.destroy();
      throw new Error(`${what} from ${redactUrl(res.url)} exceeds the ${limit}-byte limit`);
    }
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}

/** Reads at most `limit` bytes of a body for an error message and discards the rest. */
export async function readForError(res: HttpResponse, limit = 64 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of res.body) {
      const buf = chunk as Buffer;
      if (total < limit) chunks.push(buf.subarray(0, limit - total));
      total += buf.length;
    }
  } catch {
    // the error body is best effort
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** Discards a body so its connection returns to the pool. */
export async function discard(res: HttpResponse): Promise<void> {
  try {
    await res.body.dump({ limit: 256 * 1024 });
  } catch {
    // ignore: the connection is closed instead
  }
}

/**
 * Connection pools: one undici Agent per distinct TLS setting, each keeping per-origin keep-alive
 * pools, so every request to a registry reuses connections.
 */
export class HttpPool {
  private readonly agents = new Map<string, Agent>();
  private readonly baseCa: string[];

  constructor(env: NodeJS.ProcessEnv) {
    this.baseCa = envCaCerts(env);
  }

  private agentFor(tls: TlsOptions): Agent {
    const key = tls.insecure ? "insecure" : `ca:${createHash("sha256").update(tls.ca.join("\n")).digest("hex")}`;
    let agent = this.agents.get(key);
    if (!agent) {
      const ca = tls.ca.length || this.baseCa.length ? [...rootCertificates, ...this.baseCa, ...tls.ca] : undefined;
      agent = new Agent({
        connect: { timeout: 30_000, rejectUnauthorized: !tls.insecure, ...(ca ? { ca } : {}) },
        keepAliveTimeout: 30_000,
        connections: 16,
        headersTimeout: 300_000,
        bodyTimeout: 300_000,
      });
      this.agents.set(key, agent);
    }
    return agent;
  }

  /**
   * Sends one request (no retry, no redirect following); network failures become NetworkError, a
   * missed `timeoutMs` an `ETIMEDOUT` NetworkError, and an abort rejects with the signal's reason.
   */
  async send(req: HttpRequest, tls: TlsOptions): Promise<HttpResponse> {
    const agent = this.agentFor(tls);
    const body = typeof req.body === "function" ? await req.body() : req.body;
    const deadline = startDeadline(req.signal, req.timeoutMs, () => timeoutError(req));
    try {
      const res = await agent.request({
        origin: req.url.origin,
        path: `${req.url.pathname}${req.url.search}`,
        method: req.method,
        headers: req.headers,
        body,
        signal: deadline.signal,
      });
      return { status: res.statusCode, headers: res.headers, body: res.body, url: req.url };
    } catch (err) {
      if (typeof body === "object" && body !== null && "destroy" in body) body.destroy();
      if (req.signal?.aborted) throw abortReason(req.signal, err);
      if (deadline.expired) throw timeoutError(req);
      throw toNetworkError(req.method, req.url, err);
    } finally {
      // the limit is on the headers: the body may take as long as it takes
      deadline.clear();
    }
  }

  /** Closes every pooled connection. */
  async close(): Promise<void> {
    await Promise.all([...this.agents.values()].map((a) => a.close().catch(() => undefined)));
    this.agents.clear();
  }
}

/** Wraps an undici/socket error as a NetworkError (or rethrows aborts as they are). */
export function toNetworkError(method: string, url: URL, err: unknown): Error {
  if (err instanceof NetworkError) return err;
  const e = err as { code?: string; name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === "AbortError") return err as Error;
  const code = e?.code ?? e?.cause?.code ?? "UNKNOWN";
  const message = e?.cause?.message && e.cause.message !== e.message ? `${e.message}: ${e.cause.message}` : (e?.message ?? String(err));
  return new NetworkError(method, redactUrl(url), code, message, { cause: err });
}

/** The NetworkError of an exchange that did not get its response headers within `timeoutMs`. */
export function timeoutError(req: { method: string; url: URL; timeoutMs?: number }): NetworkError {
  return new NetworkError(req.method, redactUrl(req.url), "ETIMEDOUT", `no response within ${req.timeoutMs ?? 0} ms`);
}

/** What an aborted operation rejects with: the signal's reason when it is an Error, else `fallback`. */
export function abortReason(signal: AbortSignal, fallback: unknown): unknown {
  return signal.reason instanceof Error ? signal.reason : fallback;
}

/**
 * A failure while reading `res`'s body: a broken connection becomes a (retryable) NetworkError
 * naming the request; anything else (a size limit, a digest mismatch) is returned as it is.
 */
export function bodyFailure(method: string, res: { url: URL }, err: unknown): unknown {
  return isBrokenConnection(err) ? toNetworkError(method, res.url, err) : err;
}
