import type { HttpRequest, HttpResponse } from "./http.js";

/** One HTTP exchange as it passes down the transport's layers, with what the layers need to know. */
export interface Exchange extends HttpRequest {
  /** Token scopes for the auth layer, push scope first (`repository:app:push,pull`). */
  readonly scopes: readonly string[];
  /** Let the redirect layer follow 3xx answers (blob GET/HEAD). */
  readonly followRedirects?: boolean;
}

/** Sends one exchange through the layers below and returns the response, whatever its status. */
export type Send = (exchange: Exchange) => Promise<HttpResponse>;

/** A layer: wraps the layers below it (`next`) with one job. */
export type Layer = (next: Send) => Send;

/** The per-request options every exchange made for a request inherits (ping and token ones included). */
export interface CallOptions {
  readonly signal?: AbortSignal;
  readonly timeoutMs?: number;
}
