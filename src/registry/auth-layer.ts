import { parseChallenges, pickChallenge, type Challenge } from "./challenge.js";
import type { Credential } from "./credential.js";
import type { CallOptions, Exchange, Layer, Send } from "./exchange.js";
import { discard, headerValues } from "./http.js";
import type { TokenAuthenticator } from "./token-auth.js";

/** Options of {@link authLayer}. */
export interface AuthLayerOptions {
  /** The registry host; only exchanges with exactly this host get an Authorization header. */
  readonly registry: string;
  /** The challenge the registry's ping answered with (undefined: anonymous access). */
  readonly challenge: (call: CallOptions) => Promise<Challenge | undefined>;
  readonly credential: () => Promise<Credential>;
  readonly tokens: TokenAuthenticator;
}

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

/**
 * The auth layer: Basic credentials or a Bearer token (from the token layer) for the registry's
 * challenge, and one more try with fresh credentials when the registry answers 401 with a challenge
 * (a new scope goes first, the rejected token is dropped). Other hosts (blob redirects, upload
 * locations elsewhere) never get an Authorization header.
 */
export function authLayer(options: AuthLayerOptions): Layer {
  // the challenge a 401 answered with last: it may name a realm or scope the ping did not
  let challenged: Challenge | undefined;

  const authorization = async (challenge: Challenge | undefined, scopes: readonly string[], call: CallOptions): Promise<string | undefined> => {
    if (!challenge) return undefined;
    if (challenge.scheme === "bearer") return `Bearer ${await options.tokens.token(challenge, scopes, call)}`;
    if (challenge.scheme === "basic") {
      const cred = await options.credential();
      if (cred.kind === "basic") return `Basic ${Buffer.from(`${cred.username}:${cred.password}`).toString("base64")}`;
      if (cred.kind === "bearer") return `Bearer ${cred.token}`;
    }
    return undefined;
  };

  return (next: Send): Send =>
    async (ex: Exchange) => {
      const headers = Object.fromEntries(Object.entries(ex.headers ?? {}).filter(([name]) => name.toLowerCase() !== "authorization"));
      const anonymous: Exchange = { ...ex, headers };
      if (ex.url.host !== options.registry) return next(anonymous);
      const challenge = challenged ?? (await options.challenge(ex));
      const auth = await authorization(challenge, ex.scopes, ex);
      const res = await next(withAuthorization(anonymous, auth));
      if (res.status !== 401) return res;
      const fresh = pickChallenge(parseChallenges(headerValues(res, "www-authenticate")));
      if (!fresh) return res;
      challenged = fresh;
      const extra = fresh.params.scope;
      // the challenged scope goes first: some registries only look at the first scope
      const scopes = extra && !ex.scopes.some((s) => sameScope(s, extra)) ? [extra, ...ex.scopes] : ex.scopes;
      if (fresh.scheme === "bearer") options.tokens.invalidate(ex.scopes);
      const retried = await authorization(fresh, scopes, ex);
      // re-send only with different credentials: the same Basic header or static token would just
      // fail again (and count twice against lockout policies)
      if (retried === undefined || retried === auth) return res;
      await discard(res);
      return next(withAuthorization(anonymous, retried));
    };
}

function withAuthorization(ex: Exchange, auth: string | undefined): Exchange {
  return auth === undefined ? ex : { ...ex, headers: { ...ex.headers, authorization: auth } };
}
