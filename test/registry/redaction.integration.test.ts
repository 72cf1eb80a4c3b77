// Issue 11: a registry (or token server) whose error body echoes the request's Authorization
// header must not get the credential into an error message. Real htpasswd and token registries
// behind the fault proxy, whose echo-authorization fault repeats the header the client sent.
import { describe, expect, it } from "vitest";
import { RemoteImage } from "../../src/image/remote-image.js";
import { RegistryClient } from "../../src/registry/client.js";
import { RegistryError } from "../../src/registry/errors.js";
import { DefaultKeychain } from "../../src/registry/keychain.js";
import { Reference } from "../../src/registry/reference.js";
import { NO_RETRY } from "../../src/registry/retry.js";
import {
  basicAuthorization,
  expectNoLeakedProcesses,
  faults,
  useFaultProxy,
  useRegistry,
  useTempDir,
  type Credentials,
  type EchoFormat,
  type FaultProxy,
  type TokenServer,
} from "../harness/index.js";

expectNoLeakedProcesses();
const temp = useTempDir("redaction");
const USER: Credentials = { username: "ci-robot", password: "Pa55-w0rd/echoed+by?registry" };
const htpasswd = useRegistry("htpasswd", { credentials: USER });
const htProxy = useFaultProxy(htpasswd);
const token = useRegistry("token", { credentials: USER });
const tokenProxy = useFaultProxy(token);
const realmProxy = useFaultProxy(() => ({ url: new URL(server().realm).origin }));

const MANIFESTS = /^\/v2\/cnb\/app\/manifests\//;
const JWT_SHAPE = /eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/;
const BASE64 = Buffer.from(`${USER.username}:${USER.password}`).toString("base64");
const FORMATS: EchoFormat[] = ["json", "text", "bare"];

function server(): TokenServer {
  const s = token().tokenServer;
  if (!s) throw new Error("no token server");
  return s;
}

/** The error of reading `cnb/app:latest` through `proxy` with `authorization` as the registry's credential. */
async function readError(proxy: FaultProxy, authorization: string): Promise<RegistryError> {
  const env = { HOME: temp(), CNB_REGISTRY_AUTH: JSON.stringify({ [proxy.host]: authorization }) };
  const client = new RegistryClient({ keychain: new DefaultKeychain({ env }), env, retry: NO_RETRY });
  try {
    await new RemoteImage(client, Reference.parse(`${proxy.host}/cnb/app:latest`)).manifest();
  } catch (err) {
    if (err instanceof RegistryError) return err;
    throw err;
  } finally {
    await client.close();
  }
  throw new Error("expected the echoing registry to fail the request");
}

/** What an error may show of itself: its message and everything it carries. */
const everything = (err: RegistryError): string => `${err.message}\n${JSON.stringify(err.diagnostics)}\n${err.rawBody}`;

describe.each(FORMATS)("a registry echoing the Authorization header (%s body)", (format) => {
  it("gets neither the password nor its base64 into a Basic-auth error", async () => {
    const rule = htProxy().addRule({ method: "GET", path: MANIFESTS, fault: faults.echoAuthorization(403, format) });
    const err = await readError(htProxy(), basicAuthorization(USER));
    // the echo happened, with the credentials in it
    expect(rule.hits).toBe(1);
    expect(htProxy().requests({ path: MANIFESTS }).map((r) => [r.status, r.authorization])).toEqual([[403, true]]);
    expect(err.status).toBe(403);
    expect(err.message).toContain("<redacted>");
    const text = everything(err);
    expect(text).not.toContain(USER.password);
    expect(text).not.toContain(BASE64);
  });

  it("gets no bearer token from the token server into the error", async () => {
    const rule = tokenProxy().addRule({ method: "GET", path: MANIFESTS, fault: faults.echoAuthorization(403, format) });
    server().clearRequests();
    const err = await readError(tokenProxy(), basicAuthorization(USER));
    expect(rule.hits).toBe(1);
    expect(server().requests().map((r) => r.status)).toEqual([200]);
    expect(tokenProxy().requests({ path: MANIFESTS }).map((r) => r.authorization)).toEqual([true]);
    expect(err.message).toContain("<redacted>");
    const text = everything(err);
    expect(text).not.toMatch(JWT_SHAPE);
    expect(text).not.toContain(USER.password);
    expect(text).not.toContain(BASE64);
  });

  it("gets no static bearer token from CNB_REGISTRY_AUTH into the error", async () => {
    const minted = server().mintToken(USER.username, [{ type: "repository", name: "cnb/app", actions: ["pull"] }]);
    tokenProxy().addRule({ method: "GET", path: MANIFESTS, fault: faults.echoAuthorization(403, format) });
    const err = await readError(tokenProxy(), `Bearer ${minted}`);
    expect(tokenProxy().requests({ path: MANIFESTS }).map((r) => r.authorization)).toEqual([true]);
    const text = everything(err);
    expect(text).not.toContain(minted);
    // each part of the JWT on its own too (a body may break it up)
    for (const part of minted.split(".")) expect(text).not.toContain(part);
  });
});

describe("a token server echoing the Authorization header", () => {
  it.each(FORMATS)("gets neither the password nor its base64 into the token error (%s body)", async (format) => {
    const challenge = `Bearer realm="${realmProxy().url}/token",service="${server().service}"`;
    tokenProxy().addRule({ method: "GET", path: /^\/v2\/$/, fault: faults.plainTextUnauthorized("", challenge) });
    const rule = realmProxy().addRule({ method: "GET", path: /^\/token$/, fault: faults.echoAuthorization(403, format) });
    const err = await readError(tokenProxy(), basicAuthorization(USER));
    expect(rule.hits).toBe(1);
    expect(realmProxy().requests({ path: "/token" }).map((r) => [r.status, r.authorization])).toEqual([[403, true]]);
    expect(err.status).toBe(403);
    expect(err.message).toContain(`${realmProxy().url}/token`);
    expect(err.message).toContain("<redacted>");
    const text = everything(err);
    expect(text).not.toContain(USER.password);
    expect(text).not.toContain(BASE64);
  });
});
