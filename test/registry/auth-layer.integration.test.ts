// The auth layer and the token layer each alone, over the bare HTTP layer, against real htpasswd
// and token registries behind the fault proxy (token requests go through a second proxy in front
// of the token server): credentials only for the registry host, one refresh on a 401 challenge,
// and token requests that are single exchanges, shared and cached.
import { afterAll, describe, expect, it } from "vitest";
import { authLayer } from "../../src/registry/auth-layer.js";
import type { Challenge } from "../../src/registry/challenge.js";
import { basicCredential, type Credential } from "../../src/registry/credential.js";
import { RegistryError } from "../../src/registry/errors.js";
import type { Exchange, Send } from "../../src/registry/exchange.js";
import { HttpPool } from "../../src/registry/http.js";
import { Pinger } from "../../src/registry/ping.js";
import { Secrets } from "../../src/registry/redact.js";
import { TokenAuthenticator } from "../../src/registry/token-auth.js";
import { expectNoLeakedProcesses, faults, useFaultProxy, useRegistry, type FaultProxy, type TokenServer } from "../harness/index.js";

expectNoLeakedProcesses();
const htpasswd = useRegistry("htpasswd");
const htProxy = useFaultProxy(htpasswd);
const token = useRegistry("token");
const tokenProxy = useFaultProxy(token);
const realmProxy = useFaultProxy(() => ({ url: new URL(server().realm).origin }));

const pool = new HttpPool({});
const http: Send = (ex) => pool.send(ex, { insecure: false, ca: [] });
const CATALOG = "/v2/_catalog";
const PULL = ["repository:cnb/run:pull"];

afterAll(async () => {
  await pool.close();
});

function server(): TokenServer {
  const s = token().tokenServer;
  if (!s) throw new Error("no token server");
  return s;
}

function credentialOf(registry: { credentials?: { username: string; password: string } }, password?: string): Credential {
  const c = registry.credentials ?? { username: "", password: "" };
  return basicCredential(c.username, password ?? c.password);
}

/** The auth layer over HTTP for the registry behind `proxy`, with its own ping and token layer. */
function authStack(proxy: FaultProxy, credential: Credential): { send: Send; tokens: TokenAuthenticator; secrets: Secrets } {
  const secrets = new Secrets();
  const pinger = new Pinger({ registry: proxy.host, allowHttp: true, send: http });
  const cred = () => Promise.resolve(credential);
  const tokens = new TokenAuthenticator({ registry: proxy.host, allowHttp: true, credential: cred, send: http, secrets });
  const send = authLayer({ registry: proxy.host, challenge: async (call) => (await pinger.ping(call)).challenge, credential: cred, tokens })(http);
  return { send, tokens, secrets };
}

const get = (url: string | URL, extra: Partial<Exchange> = {}): Exchange => ({ method: "GET", url: new URL(url), headers: {}, scopes: PULL, ...extra });

/** The token registry's challenge, with the realm moved to `realmProxy` so token requests are counted. */
function proxiedChallenge(scope?: string, error?: string): string {
  const params = [`realm="${realmProxy().url}/token"`, `service="${server().service}"`];
  if (scope) params.push(`scope="${scope}"`);
  if (error) params.push(`error="${error}"`);
  return `Bearer ${params.join(",")}`;
}

async function drained(send: Send, ex: Exchange): Promise<number> {
  const res = await send(ex);
  await res.body.dump();
  return res.status;
}

describe("the auth layer with Basic credentials", () => {
  it("sends them to the registry host, and never to another host, even when a caller set a header", async () => {
    const { send } = authStack(htProxy(), credentialOf(htpasswd()));
    expect(await drained(send, get(`${htProxy().url}${CATALOG}`))).toBe(200);
    expect(htProxy().requests({ path: CATALOG }).map((r) => [r.status, r.authorization])).toEqual([[200, true]]);
    const elsewhere = `${htProxy().redirects.origin}/v2/cnb/run/blobs/sha256:${"0".repeat(64)}`;
    await drained(send, get(elsewhere, { headers: { authorization: "Basic c3RvbGVuOmNyZWRz" } }));
    expect(htProxy().redirects.requests().map((r) => r.authorization)).toEqual([false]);
  });

  it("does not send the same credentials again after the registry rejects them", async () => {
    const { send } = authStack(htProxy(), credentialOf(htpasswd(), "wrong-password"));
    expect(await drained(send, get(`${htProxy().url}${CATALOG}`))).toBe(401);
    expect(htProxy().requests({ path: CATALOG }).map((r) => [r.status, r.authorization])).toEqual([[401, true]]);
  });
});

describe("the auth layer with Bearer tokens", () => {
  it("fetches a token for the exchange's scopes once and sends it", async () => {
    tokenProxy().addRule({ method: "GET", path: /^\/v2\/$/, fault: faults.plainTextUnauthorized("", proxiedChallenge()) });
    server().clearRequests();
    const { send } = authStack(tokenProxy(), credentialOf(token()));
    expect(await drained(send, get(`${tokenProxy().url}/v2/cnb/run/tags/list`))).toBe(404);
    expect(await drained(send, get(`${tokenProxy().url}/v2/cnb/run/tags/list`))).toBe(404);
    expect(realmProxy().count({ path: "/token" })).toBe(1);
    expect(server().requests().map((r) => [r.username, r.status, r.scopes])).toEqual([["testuser", 200, PULL]]);
    expect(tokenProxy().requests({ path: /tags/ }).every((r) => r.authorization)).toBe(true);
  });

  it("answers a 401 challenge once: a fresh token with the challenged scope first, one resend", async () => {
    tokenProxy().addRule({ method: "GET", path: /^\/v2\/$/, fault: faults.plainTextUnauthorized("", proxiedChallenge()) });
    const extra = "repository:cnb/other:pull";
    const rule = tokenProxy().addRule({
      method: "GET",
      path: /\/tags\/list$/,
      times: 1,
      fault: faults.plainTextUnauthorized("insufficient scope\n", proxiedChallenge(extra, "insufficient_scope")),
    });
    server().clearRequests();
    const { send } = authStack(tokenProxy(), credentialOf(token()));
    expect(await drained(send, get(`${tokenProxy().url}/v2/cnb/run/tags/list`))).toBe(404);
    expect(rule.hits).toBe(1);
    expect(tokenProxy().requests({ path: /tags/ }).map((r) => r.status)).toEqual([401, 404]);
    expect(server().requests().map((r) => r.scopes)).toEqual([PULL, [extra, ...PULL]]);
  });

  it("fails with the token server's answer after one token request, leaving retries to the request's owner", async () => {
    tokenProxy().addRule({ method: "GET", path: /^\/v2\/$/, fault: faults.plainTextUnauthorized("", proxiedChallenge()) });
    realmProxy().addRule({ method: "GET", path: /^\/token$/, fault: faults.serverError(503) });
    const { send } = authStack(tokenProxy(), credentialOf(token()));
    const err = await send(get(`${tokenProxy().url}/v2/cnb/run/tags/list`)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(RegistryError);
    expect((err as RegistryError).status).toBe(503);
    expect((err as RegistryError).temporary).toBe(true);
    expect((err as Error).message).toContain(`${realmProxy().url}/token`);
    expect(realmProxy().count({ path: "/token" })).toBe(1);
    expect(tokenProxy().count({ path: /tags/ })).toBe(0);
  });
});

describe("the token layer", () => {
  const challenge = (): Challenge => ({ scheme: "bearer", params: { realm: `${realmProxy().url}/token`, service: server().service } });

  it("shares one fetch between concurrent callers, serves the next from its cache, and remembers the token as a secret", async () => {
    const secrets = new Secrets();
    const tokens = new TokenAuthenticator({
      registry: tokenProxy().host,
      allowHttp: true,
      credential: () => Promise.resolve(credentialOf(token())),
      send: http,
      secrets,
    });
    const got = await Promise.all([tokens.token(challenge(), PULL), tokens.token(challenge(), [...PULL].reverse()), tokens.token(challenge(), PULL, { timeoutMs: 5000 })]);
    expect(new Set(got).size).toBe(1);
    expect(await tokens.token(challenge(), PULL)).toBe(got[0]);
    expect(realmProxy().count({ path: "/token" })).toBe(1);
    expect(secrets.redact(`echo ${got[0] ?? ""}`)).toBe("echo <redacted>");
  });

  it("cancels a stalled token request when its only caller's time limit passes", async () => {
    const rule = realmProxy().addRule({ method: "GET", path: /^\/token$/, fault: faults.stall() });
    const tokens = new TokenAuthenticator({ registry: tokenProxy().host, allowHttp: true, credential: () => Promise.resolve(credentialOf(token())), send: http });
    const started = performance.now();
    const err = await tokens.token(challenge(), PULL, { timeoutMs: 100 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((err as { code?: string }).code).toBe("ETIMEDOUT");
    expect(performance.now() - started).toBeLessThan(1500);
    for (let i = 0; i < 100 && rule.hits === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(rule.hits).toBe(1);
  });
});
