import { z } from "zod";
import type { Challenge } from "./challenge.js";
import { identityCredential, type Credential } from "./credential.js";
import { startDeadline } from "./deadline.js";
import { parseDiagnostics } from "./error-response.js";
import { RegistryError, redactUrl, type RegistryDiagnostic } from "./errors.js";
import type { CallOptions, Send } from "./exchange.js";
import { bodyFailure, discard, header, readCapped, readForError, timeoutError, type HttpResponse } from "./http.js";
import { isPrivateHost } from "./hosts.js";
import { redactText, type Secrets } from "./redact.js";
import { parseRetryAfter } from "./retry.js";
import { SharedTask } from "./shared-task.js";

const TokenResponse = z
  .object({
    token: z.string().optional(),
    access_token: z.string().optional(),
    expires_in: z.number().optional(),
    issued_at: z.string().optional(),
    refresh_token: z.string().optional(),
  })
  .loose();

/** Shortest lifetime assumed for a token (the token spec's default is 60 s). */
const MIN_LIFETIME_MS = 60_000;

interface CachedToken {
  readonly token: string;
  readonly expiresAt: number;
  readonly refreshAt: number;
}

/** Options of {@link TokenAuthenticator}. */
export interface TokenAuthOptions {
  readonly registry: string;
  /** The registry may be reached over plain HTTP (insecure or local), so an http realm is acceptable. */
  readonly allowHttp: boolean;
  readonly credential: () => Promise<Credential>;
  /**
   * The HTTP layer for token requests. No retry here: a token request is part of an attempt of the
   * registry request it is made for, whose retry owner decides whether to try again.
   */
  readonly send: Send;
  /** Where obtained tokens are remembered, so that no error text can echo them. */
  readonly secrets?: Secrets;
  readonly now?: () => number;
}

/** Rejects realms that could turn the token request into a request forgery (ggcr's realm checks). */
export function validateRealm(realm: string, registry: string, allowHttp: boolean): URL {
  let url: URL;
  try {
    url = new URL(realm);
  } catch {
    throw new Error(`registry ${registry} sent an invalid token realm`);
  }
  if (url.protocol !== "https:" && !(url.protocol === "http:" && allowHttp)) {
    throw new Error(`registry ${registry} sent a token realm that is not https: ${redactUrl(url)}`);
  }
  const registryHost = registry.replace(/:\d+$/, "").replace(/^\[|\]$/g, "");
  const realmHost = url.hostname.replace(/^\[|\]$/g, "");
  if (isPrivateHost(realmHost) && !isPrivateHost(registryHost) && realmHost !== registryHost) {
    throw new Error(`registry ${registry} sent a token realm on a private address: ${redactUrl(url)}`);
  }
  return url;
}

/**
 * Bearer tokens for one registry: cached per scope set, refreshed before they expire, and fetched
 * with the Docker token flow (GET with Basic credentials) or OAuth2 (POST refresh_token for identity
 * tokens, falling back to GET when the realm answers 404).
 */
export class TokenAuthenticator {
  private readonly tokens = new Map<string, CachedToken>();
  private readonly inflight = new Map<string, SharedTask<string>>();
  private refreshToken: string | undefined;
  private readonly now: () => number;

  constructor(private readonly options: TokenAuthOptions) {
    this.now = options.now ?? Date.now;
  }

  /**
   * A token for the scope set, from the cache when still fresh; concurrent callers share one
   * fetch, each bounded by its own signal and time limit.
   */
  async token(challenge: Challenge, scopes: readonly string[], call: CallOptions = {}): Promise<string> {
    const key = scopeKey(scopes);
    const cached = this.tokens.get(key);
    if (cached && this.now() < cached.refreshAt) return cached.token;
    let task = this.inflight.get(key);
    if (!task || task.abandoned) {
      // as for the ping: the fetch is bounded by its callers' waits, and cancelled when none is left
      const started = new SharedTask((signal) => this.fetch(challenge, scopes, { signal }));
      task = started;
      this.inflight.set(key, started);
      const forget = () => {
        if (this.inflight.get(key) === started) this.inflight.delete(key);
      };
      started.outcome.then(forget, forget);
    }
    // a token fetch is up to two exchanges (OAuth2 POST, then the GET fallback)
    const limit = call.timeoutMs === undefined ? undefined : call.timeoutMs * 2;
    const deadline = startDeadline(call.signal, limit, () => timeoutError({ method: "GET", url: this.realmForMessages(challenge), timeoutMs: limit }));
    try {
      return await task.join(deadline.signal);
    } finally {
      deadline.clear();
    }
  }

  private realmForMessages(challenge: Challenge): URL {
    try {
      return new URL(challenge.params.realm ?? "");
    } catch {
      return new URL(`https://${this.options.registry}/`);
    }
  }

  /** Drops the cached token for a scope set (after the registry rejected it). */
  invalidate(scopes: readonly string[]): void {
    this.tokens.delete(scopeKey(scopes));
  }

  private async fetch(challenge: Challenge, scopes: readonly string[], call: CallOptions): Promise<string> {
    const realm = validateRealm(challenge.params.realm ?? "", this.options.registry, this.options.allowHttp);
    const service = challenge.params.service;
    let cred = await this.options.credential();
    if (cred.kind === "bearer") return cred.token;
    if (cred.kind === "identity" && this.refreshToken) cred = identityCredential(this.refreshToken, cred.username);
    let res: HttpResponse;
    let method = "GET";
    if (cred.kind === "identity") {
      method = "POST";
      res = await this.post(realm, service, scopes, cred.token, call);
      if (res.status === 404 || res.status === 405) {
        await discard(res);
        method = "GET";
        res = await this.get(realm, service, scopes, call, basicHeader("<token>", cred.token));
      }
    } else {
      res = await this.get(realm, service, scopes, call, cred.kind === "basic" ? basicHeader(cred.username, cred.password) : undefined);
    }
    if (res.status !== 200) {
      const body = await readForError(res);
      const retryAfterMs = parseRetryAfter(header(res, "retry-after"));
      throw new RegistryError(method, redactUrl(res.url), res.status, tokenDiagnostics(redactText(body, this.options.secrets), res.status), "", retryAfterMs, this.options.secrets);
    }
    let text: string;
    try {
      text = (await readCapped(res, 1 << 20, "token response")).toString("utf8");
    } catch (err) {
      throw bodyFailure(method, res, err);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      // never echo the body: it may hold a token
      throw new Error(`token server for ${this.options.registry} returned invalid JSON`);
    }
    const parsed = TokenResponse.safeParse(json);
    if (!parsed.success) throw new Error(`token server for ${this.options.registry} returned an unexpected response`);
    const token = parsed.data.token ?? parsed.data.access_token;
    if (!token) throw new Error(`token server for ${this.options.registry} returned no token`);
    this.options.secrets?.addToken(token);
    if (parsed.data.refresh_token) {
      this.refreshToken = parsed.data.refresh_token;
      this.options.secrets?.addToken(parsed.data.refresh_token);
    }
    const lifetime = Math.max(MIN_LIFETIME_MS, (parsed.data.expires_in ?? 60) * 1000);
    const issued = this.now();
    // refresh proactively when 90 % of the lifetime has passed (at least 10 s before expiry)
    const margin = Math.max(10_000, lifetime * 0.1);
    const entry = { token, expiresAt: issued + lifetime, refreshAt: issued + lifetime - margin };
    this.tokens.set(scopeKey(scopes), entry);
    return token;
  }

  private get(realm: URL, service: string | undefined, scopes: readonly string[], call: CallOptions, authorization?: string): Promise<HttpResponse> {
    const url = new URL(realm);
    if (service) url.searchParams.set("service", service);
    for (const s of scopes) url.searchParams.append("scope", s);
    return this.options.send({ method: "GET", url, headers: authorization ? { authorization } : {}, scopes: [], ...call });
  }

  private post(realm: URL, service: string | undefined, scopes: readonly string[], refreshToken: string, call: CallOptions): Promise<HttpResponse> {
    const form = new URLSearchParams();
    form.set("grant_type", "refresh_token");
    form.set("refresh_token", refreshToken);
    form.set("client_id", "cnb-lifecycle");
    if (service) form.set("service", service);
    if (scopes.length) form.set("scope", scopes.join(" "));
    return this.options.send({
      method: "POST",
      url: realm,
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: form.toString(),
      scopes: [],
      ...call,
    });
  }
}

/** The cache key of a scope set: order and duplicates do not matter. */
function scopeKey(scopes: readonly string[]): string {
  return [...new Set(scopes)].sort().join(" ");
}

function basicHeader(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`;
}

/** A token server's error fields (Docker: `details`; OAuth2: `error`, `error_description`). */
const TokenErrorBody = z.object({ details: z.string().optional(), error: z.string().optional(), error_description: z.string().optional() }).loose();

/** The diagnostics of a token server's error answer (`body` already redacted: it may be cut short). */
function tokenDiagnostics(body: string, status: number): RegistryDiagnostic[] {
  const code = status === 401 ? "UNAUTHORIZED" : "DENIED";
  const registryStyle = parseDiagnostics(body);
  if (registryStyle?.length) return registryStyle;
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    json = undefined;
  }
  const parsed = TokenErrorBody.safeParse(json);
  const msg = parsed.success ? (parsed.data.details ?? parsed.data.error_description ?? parsed.data.error) : undefined;
  if (msg) return [{ code, message: msg }];
  return [{ code, message: status === 401 ? "authentication required (invalid username/password?)" : body.trim().slice(0, 200) || "token request failed" }];
}
