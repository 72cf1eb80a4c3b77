import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { randomBytes, timingSafeEqual } from "node:crypto";
import { signRegistryToken, type TokenClaims } from "./jwt.js";
import { grantAccess, parseScopes, type Access, type AccessGrant } from "./scopes.js";
import { generateSigningKey } from "./signing-key.js";

/** A user of the token server; without `access` every requested scope is granted. */
export interface TokenUser {
  username: string;
  password: string;
  access?: readonly AccessGrant[];
}

/** Behaviour of the token server that tests may change while it runs. */
export interface TokenServerSettings {
  users: readonly TokenUser[];
  /** Requests without credentials: "deny" answers 401, a grant list issues a token with that access. */
  anonymous: "deny" | readonly AccessGrant[];
  /** Lifetime of issued tokens in seconds (also returned as `expires_in`). */
  expiresIn: number;
  /** "serve" answers the OAuth2 POST form; "not-found" answers POST with 404 so clients fall back to GET. */
  oauthPost: "serve" | "not-found";
}

/** How to start a token server. */
export interface TokenServerOptions extends Partial<TokenServerSettings> {
  /** Directory for the signing key and certificate (owned by the caller). */
  dir: string;
  service?: string;
  issuer?: string;
}

/** One request the token server answered. */
export interface TokenRequestRecord {
  method: string;
  path: string;
  query: Record<string, string[]>;
  /** Fields of an OAuth2 POST form (passwords and refresh tokens replaced by "<redacted>"). */
  form: Record<string, string[]>;
  /** Which kind of Authorization header was sent. */
  authorization: "none" | "basic" | "bearer" | "other";
  /** The authenticated (or claimed) user, if any. */
  username?: string;
  grantType?: string;
  status: number;
  /** Scopes asked for, and what the issued token grants. */
  scopes: string[];
  granted: Access[];
}

/** A running in-process Docker/OAuth2 token server whose JWTs a distribution 2.8 registry accepts. */
export interface TokenServer {
  /** `http://127.0.0.1:PORT/token`, the registry's `auth.token.realm`. */
  readonly realm: string;
  readonly service: string;
  readonly issuer: string;
  /** PEM certificate bundle for the registry's `auth.token.rootcertbundle`. */
  readonly rootCertBundle: string;
  settings(): TokenServerSettings;
  update(patch: Partial<TokenServerSettings>): void;
  requests(): readonly TokenRequestRecord[];
  clearRequests(): void;
  /** Signs a token directly (claims overridable, e.g. an `exp` in the past). */
  mintToken(subject: string, access: Access[], claims?: Partial<TokenClaims>): string;
  stop(): Promise<void>;
}

type Params = Record<string, string[]>;

function toParams(search: URLSearchParams): Params {
  const out: Params = {};
  for (const [key, value] of search) (out[key] ??= []).push(value);
  return out;
}

function first(params: Params, key: string): string | undefined {
  return params[key]?.[0];
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** Starts a token server on 127.0.0.1 with a fresh ES256 signing key. */
export async function startTokenServer(options: TokenServerOptions): Promise<TokenServer> {
  const key = await generateSigningKey(options.dir);
  const service = options.service ?? "harness-registry";
  const issuer = options.issuer ?? "harness-token-issuer";
  let settings: TokenServerSettings = {
    users: options.users ?? [],
    anonymous: options.anonymous ?? "deny",
    expiresIn: options.expiresIn ?? 300,
    oauthPost: options.oauthPost ?? "serve",
  };
  const log: TokenRequestRecord[] = [];
  const refreshTokens = new Map<string, string>();

  const mint = (subject: string, access: Access[], claims?: Partial<TokenClaims>): string =>
    signRegistryToken(key, { issuer, service, subject, access, expiresIn: settings.expiresIn, claims });

  const findUser = (username: string | undefined, password: string | undefined): TokenUser | undefined =>
    settings.users.find((u) => u.username === username && password !== undefined && sameSecret(u.password, password));

  const issue = (res: ServerResponse, record: TokenRequestRecord, user: TokenUser | undefined, offline: boolean, refresh?: string): void => {
    const grants = user ? (user.access ?? "all") : settings.anonymous === "deny" ? [] : settings.anonymous;
    record.granted = grantAccess(parseScopes(record.scopes), grants);
    const token = mint(user?.username ?? "", record.granted);
    const body: Record<string, unknown> = {
      token,
      access_token: token,
      expires_in: settings.expiresIn,
      issued_at: new Date().toISOString(),
    };
    if (record.method === "POST") body.scope = record.scopes.join(" ");
    let refreshToken = refresh;
    if (refreshToken === undefined && offline && user) {
      refreshToken = randomBytes(24).toString("hex");
      refreshTokens.set(refreshToken, user.username);
    }
    if (refreshToken !== undefined) body.refresh_token = refreshToken;
    record.status = 200;
    sendJson(res, 200, body);
  };

  const deny = (res: ServerResponse, record: TokenRequestRecord, status: number, body: unknown): void => {
    record.status = status;
    sendJson(res, status, body, status === 401 ? { "www-authenticate": 'Basic realm="harness-token"' } : {});
  };
  const unauthorized = { errors: [{ code: "UNAUTHORIZED", message: "invalid username/password" }] };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? "/", "http://token.invalid");
    const header = req.headers.authorization ?? "";
    const scheme = header === "" ? "none" : /^basic /i.test(header) ? "basic" : /^bearer /i.test(header) ? "bearer" : "other";
    const record: TokenRequestRecord = {
      method: req.method ?? "",
      path: url.pathname,
      query: toParams(url.searchParams),
      form: {},
      authorization: scheme,
      status: 0,
      scopes: [],
      granted: [],
    };
    log.push(record);
    if (url.pathname !== "/token") return deny(res, record, 404, { errors: [{ code: "NOT_FOUND", message: "not found" }] });

    if (req.method === "GET") {
      record.scopes = record.query.scope ?? [];
      let user: TokenUser | undefined;
      if (scheme === "basic") {
        const decoded = Buffer.from(header.slice(6).trim(), "base64").toString("utf8");
        const colon = decoded.indexOf(":");
        const username = colon < 0 ? decoded : decoded.slice(0, colon);
        record.username = username;
        user = findUser(username, colon < 0 ? undefined : decoded.slice(colon + 1));
        if (!user) return deny(res, record, 401, unauthorized);
      } else if (settings.anonymous === "deny") {
        return deny(res, record, 401, unauthorized);
      }
      return issue(res, record, user, first(record.query, "offline_token") === "true");
    }

    if (req.method === "POST") {
      const form = toParams(new URLSearchParams(await readBody(req)));
      for (const [k, v] of Object.entries(form)) record.form[k] = k === "password" || k === "refresh_token" ? v.map(() => "<redacted>") : v;
      if (settings.oauthPost === "not-found") return deny(res, record, 404, { errors: [{ code: "NOT_FOUND", message: "POST not supported" }] });
      record.grantType = first(form, "grant_type");
      record.scopes = form.scope ?? [];
      if (record.grantType === "password") {
        record.username = first(form, "username");
        const user = findUser(record.username, first(form, "password"));
        if (!user) return deny(res, record, 401, unauthorized);
        return issue(res, record, user, first(form, "access_type") === "offline");
      }
      if (record.grantType === "refresh_token") {
        const refresh = first(form, "refresh_token") ?? "";
        const username = refreshTokens.get(refresh);
        const user = settings.users.find((u) => u.username === username);
        record.username = username;
        if (!user) return deny(res, record, 400, { error: "invalid_grant" });
        return issue(res, record, user, false, refresh);
      }
      return deny(res, record, 400, { error: "unsupported_grant_type" });
    }
    return deny(res, record, 405, { errors: [{ code: "UNSUPPORTED", message: "method not allowed" }] });
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { errors: [{ code: "UNKNOWN", message: String(error) }] });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const port = (server.address() as AddressInfo).port;

  return {
    realm: `http://127.0.0.1:${port}/token`,
    service,
    issuer,
    rootCertBundle: key.certPath,
    settings: () => settings,
    update(patch) {
      settings = { ...settings, ...patch };
    },
    requests: () => log,
    clearRequests() {
      log.length = 0;
    },
    mintToken: mint,
    stop() {
      return new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
