import { z } from "zod";
import type { Challenge } from "./challenge.js";
import { identityCredential, type Credential } from "./credential.js";
import { RegistryError, redactUrl, type RegistryDiagnostic } from "./errors.js";
import { discard, readCapped, readForError, type HttpRequest, type HttpResponse } from "./http.js";
import { isPrivateHost } from "./hosts.js";

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

/** Sends one request to the token server (through the registry's retrying transport). */
export type TokenSender = (req: HttpRequest) => Promise<HttpResponse>;

/** Options of {@link TokenAuthenticator}. */
export interface TokenAuthOptions {
  readonly registry: string;
  /** The registry may be reached over plain HTTP (insecure or local), so an http realm is acceptable. */
  readonly allowHttp: boolean;
  readonly credential: () => Promise<Credential>;
  readonly send: TokenSender;
  readonly userAgent: string;
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
  private readonly inflight = new Map<string, Promise<string>>();
  private refreshToken: string | undefined;
  private readonly now: () => number;

  constructor(private readonly options: TokenAuthOptions) {
    this.now = options.now ?? Date.now;
  }

  /** A token for the scope set, from the cache when still fresh. */
  async token(challenge: Challenge, scopes: readonly string[]): Promise<string> {
    const key = [...new Set(scopes)].sort().join(" ");
    const cached = this.tokens.get(key);
    if (cached && this.now() < cached.refreshAt) return cached.token;
    let pending = this.inflight.get(key);
    if (!pending) {
      pending = this.fetch(challenge, scopes).finally(() => this.inflight.delete(key));
      this.inflight.set(key, pending);
    }
    return pending;
  }

  /** Drops the cached token for a scope set (after the registry rejected it). */
  invalidate(scopes: readonly string[]): void {
    this.tokens.delete([...new Set(scopes)].sort().join(" "));
  }

  private async fetch(challenge: Challenge, scopes: readonly string[]): Promise<string> {
    const realm = validateRealm(challenge.params.realm ?? "", this.options.registry, this.options.allowHttp);
    const service = challenge.params.service;
    let cred = await this.options.credential();
    if (cred.kind === "bearer") return cred.token;
    if (cred.kind === "identity" && this.refreshToken) cred = identityCredential(this.refreshToken, cred.username);
    let res: HttpResponse;
    let method = "GET";
    if (cred.kind === "identity") {
      method = "POST";
      res = await this.post(realm, service, scopes, cred.token);
      if (res.status === 404 || res.status === 405) {
        await discard(res);
        method = "GET";
        res = await this.get(realm, service, scopes, basicHeader("<token>", cred.token));
      }
    } else {
      res = await this.get(realm, service, scopes, cred.kind === "basic" ? basicHeader(cred.username, cred.password) : undefined);
    }
    if (res.status !== 200) {
      const body = await readForError(res);
      throw new RegistryError(method, redactUrl(res.url), res.status, tokenDiagnostics(body, res.status), "");
    }
    const text = (await readCapped(res, 1 << 20, "token response")).toString("utf8");
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
    if (parsed.data.refresh_token) this.refreshToken = parsed.data.refresh_token;
    const lifetime = Math.max(MIN_LIFETIME_MS, (parsed.data.expires_in ?? 60) * 1000);
    const issued = this.now();
    // refresh proactively when 90 % of the lifetime has passed (at least 10 s before expiry)
    const margin = Math.max(10_000, lifetime * 0.1);
    const entry = { token, expiresAt: issued + lifetime, refreshAt: issued + lifetime - margin };
    this.tokens.set([...new Set(scopes)].sort().join(" "), entry);
    return token;
  }

  private get(realm: URL, service: string | undefined, scopes: readonly string[], authorization?: string): Promise<HttpResponse> {
    const url = new URL(realm);
    if (service) url.searchParams.set("service", service);
    for (const s of scopes) url.searchParams.append("scope", s);
    const headers: Record<string, string> = { "user-agent": this.options.userAgent };
    if (authorization) headers.authorization = authorization;
    return this.options.send({ method: "GET", url, headers });
  }

  private post(realm: URL, service: string | undefined, scopes: readonly string[], refreshToken: string): Promise<HttpResponse> {
    const form = new URLSearchParams();
    form.set("grant_type", "refresh_token");
    form.set("refresh_token", refreshToken);
    form.set("client_id", "cnb-lifecycle");
    if (service) form.set("service", service);
    if (scopes.length) form.set("scope", scopes.join(" "));
    return this.options.send({
      method: "POST",
      url: realm,
      headers: { "content-type": "application/x-www-form-urlencoded", "user-agent": this.options.userAgent },
      body: form.toString(),
    });
  }
}

function basicHeader(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`;
}

function tokenDiagnostics(body: string, status: number): RegistryDiagnostic[] {
  try {
    const json = JSON.parse(body) as { errors?: RegistryDiagnostic[]; details?: string; error?: string };
    if (Array.isArray(json.errors) && json.errors.length) return json.errors;
    const msg = json.details ?? json.error;
    if (msg) return [{ code: status === 401 ? "UNAUTHORIZED" : "DENIED", message: msg }];
  } catch {
    // not JSON
  }
  return [
    {
      code: status === 401 ? "UNAUTHORIZED" : "DENIED",
      message: status === 401 ? "authentication required (invalid username/password?)" : body.trim().slice(0, 200) || "token request failed",
    },
  ];
}
