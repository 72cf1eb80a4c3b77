import http, { type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders } from "node:http";
import https from "node:https";

/** The registry a proxy forwards to, with a keep-alive agent. */
export interface Upstream {
  readonly url: URL;
  readonly agent: http.Agent;
}

/** Creates the upstream for `url`, trusting `caPem` for https. */
export function createUpstream(url: string, caPem?: string): Upstream {
  const parsed = new URL(url);
  const agent =
    parsed.protocol === "https:" ? new https.Agent({ keepAlive: true, ca: caPem }) : new http.Agent({ keepAlive: true });
  return { url: parsed, agent };
}

const HOP_BY_HOP = new Set([
  "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade",
  "expect",
]);

/** Request headers to send upstream: hop-by-hop headers dropped, Host set to the upstream. */
export function upstreamRequestHeaders(headers: IncomingHttpHeaders, upstream: Upstream): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [key, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(key) && key !== "host") out[key] = value;
  }
  out.host = upstream.url.host;
  return out;
}

/** Response headers for the client: hop-by-hop dropped, upstream `Location`s moved to `origin`. */
export function clientResponseHeaders(headers: IncomingHttpHeaders, upstream: Upstream, origin: string): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [key, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(key)) out[key] = value;
  }
  const location = headers.location;
  if (location !== undefined) {
    const target = new URL(location, upstream.url);
    if (target.origin === upstream.url.origin) out.location = `${origin}${target.pathname}${target.search}${target.hash}`;
  }
  return out;
}

/** An upstream request in flight: abort it with `abort()`, await `response`. */
export interface UpstreamCall {
  response: Promise<IncomingMessage>;
  abort(): void;
  request: http.ClientRequest;
}

/** Sends a request upstream; the caller pipes a body into `request` or ends it. */
export function callUpstream(upstream: Upstream, method: string, pathAndQuery: string, headers: OutgoingHttpHeaders): UpstreamCall {
  const transport = upstream.url.protocol === "https:" ? https : http;
  const request = transport.request({
    protocol: upstream.url.protocol,
    hostname: upstream.url.hostname,
    port: upstream.url.port,
    method,
    path: pathAndQuery,
    headers,
    agent: upstream.agent,
  });
  const response = new Promise<IncomingMessage>((resolve, reject) => {
    request.once("response", resolve);
    request.once("error", reject);
  });
  return { request, response, abort: () => request.destroy() };
}
