import { redactUrl } from "./errors.js";
import type { Exchange, Layer, Send } from "./exchange.js";
import { discard, header } from "./http.js";
import { isPrivateHost } from "./hosts.js";

/** Statuses that redirect. */
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** Most redirects followed for one exchange. */
const MAX_HOPS = 5;

/** What a registry's redirects and `Location` headers may point at. */
export interface RedirectPolicy {
  /** The registry may be reached over plain HTTP, so an https → http redirect is acceptable. */
  readonly allowHttp: boolean;
}

/**
 * Resolves a `Location` header against the URL it answered and checks it: http(s) only, no
 * downgrade to http unless allowed, and no way from a public host to a private address (SSRF).
 */
export function checkedLocation(location: string, from: URL, policy: RedirectPolicy): URL {
  const next = new URL(location, from);
  if (next.protocol !== "https:" && next.protocol !== "http:") throw new Error(`refusing redirect to ${redactUrl(next)}`);
  if (next.protocol === "http:" && from.protocol === "https:" && !policy.allowHttp) {
    throw new Error(`refusing redirect from https to http: ${redactUrl(next)}`);
  }
  if (isPrivateHost(next.hostname) && !isPrivateHost(from.hostname)) {
    throw new Error(`refusing redirect from ${from.host} to a private address: ${redactUrl(next)}`);
  }
  return next;
}

/**
 * The redirect layer: for exchanges that ask for it, follows up to 5 redirects, each checked by
 * {@link checkedLocation}; every hop goes through the layers below again (so the auth layer decides
 * afresh whether the new host may see credentials).
 */
export function redirectLayer(policy: RedirectPolicy): Layer {
  return (next: Send): Send =>
    async (ex: Exchange) => {
      let res = await next(ex);
      let url = ex.url;
      for (let hops = 0; ex.followRedirects && REDIRECTS.has(res.status) && hops < MAX_HOPS; hops++) {
        const location = header(res, "location");
        if (!location) break;
        await discard(res);
        url = checkedLocation(location, url, policy);
        res = await next({ ...ex, url });
      }
      return res;
    };
}
