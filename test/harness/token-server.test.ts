import { describe, expect, it } from "vitest";
import { fetch, type Response } from "undici";
import { decodeTokenClaims } from "./token/jwt.js";
import { basicAuthorization, fetchBearerToken } from "./registry/registry-http.js";
import type { TokenServer } from "./token/token-server.js";
import { expectNoLeakedProcesses } from "./vitest/expect-no-leaks.js";
import { useRegistry } from "./vitest/use-registry.js";

expectNoLeakedProcesses();
const PULLER = { username: "puller", password: "pull-only" };
const registry = useRegistry("token", {
  token: { users: [{ ...PULLER, access: [{ name: "cnb/run", actions: ["pull"] }] }] },
});

function server(): TokenServer {
  const tokenServer = registry().tokenServer;
  if (!tokenServer) throw new Error("token registry without token server");
  return tokenServer;
}

const ADMIN = { username: "testuser", password: "testpass" };

async function startUpload(token: string): Promise<Response> {
  return fetch(`${registry().url}/v2/cnb/run/blobs/uploads/`, { method: "POST", headers: { authorization: `Bearer ${token}` } });
}

describe("token server", () => {
  it("issues a JWT the registry accepts, with the Docker GET response fields", async () => {
    server().clearRequests();
    const url = `${server().realm}?service=${server().service}&scope=repository:cnb/run:pull,push&account=testuser`;
    const response = await fetch(url, { headers: { authorization: basicAuthorization(ADMIN) } });
    expect(response.status).toBe(200);
    const body = (await response.json()) as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(["access_token", "expires_in", "issued_at", "token"]);
    expect(body.access_token).toBe(body.token);
    expect(body.expires_in).toBe(300);
    const claims = decodeTokenClaims(String(body.token));
    expect(claims).toMatchObject({ iss: server().issuer, aud: server().service, sub: "testuser", access: [{ type: "repository", name: "cnb/run", actions: ["pull", "push"] }] });

    const upload = await startUpload(String(body.token));
    expect(upload.status).toBe(202);
    expect(upload.headers.get("location")).toContain("/v2/cnb/run/blobs/uploads/");

    expect(server().requests()).toEqual([
      expect.objectContaining({ method: "GET", authorization: "basic", username: "testuser", status: 200, scopes: ["repository:cnb/run:pull,push"], query: expect.objectContaining({ account: ["testuser"] }) as unknown }),
    ]);
  });

  it("rejects a wrong password with 401", async () => {
    const response = await fetch(`${server().realm}?service=${server().service}`, {
      headers: { authorization: basicAuthorization({ ...ADMIN, password: "nope" }) },
    });
    expect(response.status).toBe(401);
    expect(server().requests().at(-1)).toMatchObject({ status: 401, authorization: "basic" });
    await expect(fetchBearerToken(server().realm, server().service, [], undefined)).rejects.toThrow(/401/);
  });

  it("narrows scopes per user so a pull-only user gets insufficient_scope on push", async () => {
    const token = await fetchBearerToken(server().realm, server().service, ["repository:cnb/run:pull,push"], PULLER);
    expect(decodeTokenClaims(token)).toMatchObject({ access: [{ name: "cnb/run", actions: ["pull"] }] });
    const upload = await startUpload(token);
    expect(upload.status).toBe(401);
    expect(upload.headers.get("www-authenticate")).toContain('error="insufficient_scope"');
    await upload.body?.cancel();
    const ping = await fetch(`${registry().url}/v2/`, { headers: { authorization: `Bearer ${token}` } });
    expect(ping.status).toBe(200);
  });

  it("rejects tokens the registry must not accept (expired, tampered)", async () => {
    const expired = server().mintToken("testuser", [], { exp: Math.floor(Date.now() / 1000) - 3600 });
    const tampered = server().mintToken("testuser", []).slice(0, -4) + "AAAA";
    for (const token of [expired, tampered]) {
      const ping = await fetch(`${registry().url}/v2/`, { headers: { authorization: `Bearer ${token}` } });
      expect(ping.status).toBe(401);
      expect(ping.headers.get("www-authenticate")).toContain('error="invalid_token"');
      await ping.body?.cancel();
    }
  });

  it("supports the OAuth2 POST password and refresh_token grants", async () => {
    server().clearRequests();
    const post = (form: Record<string, string>): Promise<Response> =>
      fetch(server().realm, { method: "POST", body: new URLSearchParams(form) });
    const first = await post({
      grant_type: "password", service: server().service, client_id: "harness", access_type: "offline",
      username: ADMIN.username, password: ADMIN.password, scope: "repository:cnb/run:pull repository:cnb/other:pull",
    });
    expect(first.status).toBe(200);
    const firstBody = (await first.json()) as Record<string, unknown>;
    expect(typeof firstBody.refresh_token).toBe("string");
    expect(decodeTokenClaims(String(firstBody.access_token))).toMatchObject({ access: [{ name: "cnb/run" }, { name: "cnb/other" }] });

    const refreshed = await post({ grant_type: "refresh_token", service: server().service, client_id: "harness", refresh_token: String(firstBody.refresh_token), scope: "repository:cnb/run:pull,push" });
    expect(refreshed.status).toBe(200);
    const refreshedBody = (await refreshed.json()) as Record<string, unknown>;
    expect(refreshedBody.refresh_token).toBe(firstBody.refresh_token);
    expect((await startUpload(String(refreshedBody.access_token))).status).toBe(202);

    const badPassword = await post({ grant_type: "password", service: server().service, username: ADMIN.username, password: "nope" });
    expect(badPassword.status).toBe(401);
    const badRefresh = await post({ grant_type: "refresh_token", service: server().service, refresh_token: "unknown" });
    expect(badRefresh.status).toBe(400);

    const records = server().requests();
    expect(records.map((r) => [r.method, r.grantType, r.status])).toEqual([
      ["POST", "password", 200], ["POST", "refresh_token", 200], ["POST", "password", 401], ["POST", "refresh_token", 400],
    ]);
    expect(JSON.stringify(records)).not.toContain(ADMIN.password);
  });

  it("issues refresh tokens on GET with offline_token=true", async () => {
    const response = await fetch(`${server().realm}?service=${server().service}&offline_token=true&client_id=harness`, {
      headers: { authorization: basicAuthorization(ADMIN) },
    });
    const body = (await response.json()) as Record<string, unknown>;
    expect(typeof body.refresh_token).toBe("string");
  });

  it("can answer POST with 404 (GET fallback) and change expires_in while running", async () => {
    server().update({ oauthPost: "not-found", expiresIn: 7 });
    try {
      const post = await fetch(server().realm, { method: "POST", body: new URLSearchParams({ grant_type: "password", username: ADMIN.username, password: ADMIN.password }) });
      expect(post.status).toBe(404);
      await post.body?.cancel();
      const get = await fetch(`${server().realm}?service=${server().service}`, { headers: { authorization: basicAuthorization(ADMIN) } });
      const body = (await get.json()) as { token: string; expires_in: number };
      expect(body.expires_in).toBe(7);
      const claims = decodeTokenClaims(body.token) as { exp: number; iat: number };
      expect(claims.exp - claims.iat).toBe(7);
    } finally {
      server().update({ oauthPost: "serve", expiresIn: 300 });
    }
  });

  it("denies anonymous requests by default and can grant them configured access", async () => {
    server().clearRequests();
    const url = `${server().realm}?service=${server().service}&scope=repository:cnb/run:pull,push`;
    const denied = await fetch(url);
    expect(denied.status).toBe(401);
    await denied.body?.cancel();
    server().update({ anonymous: [{ name: /^cnb\//, actions: ["pull"] }] });
    try {
      const granted = await fetch(url);
      const body = (await granted.json()) as { token: string };
      expect(decodeTokenClaims(body.token)).toMatchObject({ sub: "", access: [{ name: "cnb/run", actions: ["pull"] }] });
    } finally {
      server().update({ anonymous: "deny" });
    }
    expect(server().requests().map((r) => [r.authorization, r.status])).toEqual([["none", 401], ["none", 200]]);
  });
});
