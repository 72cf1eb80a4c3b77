// One retry owner per request, counted at the fault proxy: the `/v2/` ping and the token request
// issued on a request's behalf are attempts of that request, never retried on their own. Inside
// openRemoteImage (which owns the retries) a failing ping or token request is therefore tried once
// per openRemoteImage attempt (6 in all), and a request with the default policy makes at most 5.
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { openRemoteImage } from "../../src/image/open-remote.js";
import { RemoteImage } from "../../src/image/remote-image.js";
import { MemoryLogger } from "../../src/log/logger.js";
import { RegistryClient } from "../../src/registry/client.js";
import { NetworkError, statusOf } from "../../src/registry/errors.js";
import { anonymousKeychain, DefaultKeychain } from "../../src/registry/keychain.js";
import { Reference } from "../../src/registry/reference.js";
import { DEFAULT_RETRY_POLICY, NO_RETRY, type RetryPolicy } from "../../src/registry/retry.js";
import {
  basicAuthorization,
  buildRunImage,
  expectNoLeakedProcesses,
  faults,
  pushImage as skopeoPush,
  useFaultProxy,
  useRegistry,
  useTempDir,
  type BuiltImage,
  type TokenServer,
} from "../harness/index.js";

expectNoLeakedProcesses();
const temp = useTempDir("retry-ownership");
const plain = useRegistry("plain");
const proxy = useFaultProxy(plain);
const token = useRegistry("token");
const tokenProxy = useFaultProxy(token);
/** A second proxy in front of the token server: the token requests are counted and faulted there. */
const realmProxy = useFaultProxy(() => ({ url: new URL(server().realm).origin }));

/** The default policy's attempts, with short waits so the suite stays fast. */
const DEFAULT_FAST: RetryPolicy = { ...DEFAULT_RETRY_POLICY, baseDelayMs: 5, maxDelayMs: 20 };
const QUICK = [1, 1, 1, 1, 1];
const PING = "/v2/";
const MANIFESTS = /^\/v2\/cnb\/run\/manifests\//;

let fixture: BuiltImage;

function server(): TokenServer {
  const s = token().tokenServer;
  if (!s) throw new Error("no token server");
  return s;
}

beforeAll(async () => {
  fixture = await buildRunImage(join(temp(), "layout"));
  await skopeoPush(fixture, plain(), "cnb/run:latest");
  await skopeoPush(fixture, token(), "cnb/run:latest");
});

/** Sends the token registry's ping challenge through `realmProxy` (the registry's own realm otherwise). */
function challengeViaRealmProxy(): void {
  const challenge = `Bearer realm="${realmProxy().url}/token",service="${server().service}"`;
  tokenProxy().addRule({ method: "GET", path: /^\/v2\/$/, fault: faults.plainTextUnauthorized("", challenge) });
}

function tokenClient(): RegistryClient {
  const host = tokenProxy().host;
  const env = { HOME: temp(), CNB_REGISTRY_AUTH: JSON.stringify({ [host]: basicAuthorization(token().credentials ?? { username: "", password: "" }) }) };
  return new RegistryClient({ keychain: new DefaultKeychain({ env }), env, retry: DEFAULT_FAST });
}

async function settle<T>(client: RegistryClient, fn: (client: RegistryClient) => Promise<T>): Promise<{ value?: T; error?: unknown }> {
  try {
    return { value: await fn(client) };
  } catch (error) {
    return { error };
  } finally {
    await client.close();
  }
}

/** openRemoteImage as the exporter runs it: fresh NO_RETRY images, the client's own policy unused. */
function openRemote(client: RegistryClient, host: string): Promise<RemoteImage> {
  const ref = Reference.parse(`${host}/cnb/run:latest`);
  return openRemoteImage(() => new RemoteImage(client, ref, { retry: NO_RETRY }), new MemoryLogger("debug"), { delays: QUICK });
}

describe("the ping belongs to the request it is made for", () => {
  const plainClient = (): RegistryClient => new RegistryClient({ keychain: anonymousKeychain, retry: DEFAULT_FAST });

  it("is tried exactly once per openRemoteImage attempt: 6 pings, not 6 × 5", async () => {
    proxy().addRule({ method: "GET", path: /^\/v2\/$/, fault: faults.serverError(503) });
    const { error } = await settle(plainClient(), (c) => openRemote(c, proxy().host));
    expect(statusOf(error)).toBe(503);
    expect(proxy().count({ method: "GET", path: PING })).toBe(6);
    expect(proxy().count({ path: MANIFESTS })).toBe(0);
  });

  it("is tried exactly once per openRemoteImage attempt when its connection drops: 6 pings", async () => {
    proxy().addRule({ method: "GET", path: /^\/v2\/$/, fault: faults.drop() });
    const { error } = await settle(plainClient(), (c) => openRemote(c, proxy().host));
    expect(error).toBeInstanceOf(NetworkError);
    expect(proxy().count({ method: "GET", path: PING })).toBe(6);
    expect(proxy().count({ path: MANIFESTS })).toBe(0);
  });

  it("is tried at most 5 times by a request with the default policy", async () => {
    proxy().addRule({ method: "GET", path: /^\/v2\/$/, fault: faults.serverError(503) });
    const { error } = await settle(plainClient(), (c) => new RemoteImage(c, Reference.parse(`${proxy().host}/cnb/run:latest`)).manifest());
    expect(statusOf(error)).toBe(503);
    expect(proxy().count({ method: "GET", path: PING })).toBe(DEFAULT_RETRY_POLICY.attempts);
    expect(proxy().count({ path: MANIFESTS })).toBe(0);
  });

  it("is tried at most 5 times by a request with the default policy when its connection drops", async () => {
    proxy().addRule({ method: "GET", path: /^\/v2\/$/, fault: faults.drop({ rst: true }) });
    const { error } = await settle(plainClient(), (c) => new RemoteImage(c, Reference.parse(`${proxy().host}/cnb/run:latest`)).manifest());
    expect(error).toBeInstanceOf(NetworkError);
    expect(proxy().count({ method: "GET", path: PING })).toBe(DEFAULT_RETRY_POLICY.attempts);
  });

  it("counts a failed ping as an attempt of the request, which then succeeds", async () => {
    proxy().addRule({ method: "GET", path: /^\/v2\/$/, times: 2, fault: faults.serverError(503) });
    const { value, error } = await settle(plainClient(), (c) => new RemoteImage(c, Reference.parse(`${proxy().host}/cnb/run:latest`)).manifest());
    expect(error).toBeUndefined();
    expect(value?.digest).toBe(fixture.descriptor.digest);
    expect(proxy().requests({ method: "GET", path: PING }).map((r) => r.status)).toEqual([503, 503, 200]);
    expect(proxy().count({ method: "GET", path: MANIFESTS })).toBe(1);
  });
});

describe("the token request belongs to the request it is made for", () => {
  it("fetches tokens through the realm proxy when nothing fails (the setup the other tests rely on)", async () => {
    challengeViaRealmProxy();
    const { value, error } = await settle(tokenClient(), (c) => new RemoteImage(c, Reference.parse(`${tokenProxy().host}/cnb/run:latest`)).manifest());
    expect(error).toBeUndefined();
    expect(value?.digest).toBe(fixture.descriptor.digest);
    expect(realmProxy().requests({ method: "GET", path: "/token" }).map((r) => [r.status, r.authorization])).toEqual([[200, true]]);
    expect(tokenProxy().requests({ method: "GET", path: MANIFESTS }).map((r) => [r.status, r.authorization])).toEqual([[200, true]]);
  });

  it("is tried exactly once per openRemoteImage attempt: 6 token requests, not 6 × 5", async () => {
    challengeViaRealmProxy();
    realmProxy().addRule({ method: "GET", path: /^\/token$/, fault: faults.serverError(503) });
    const { error } = await settle(tokenClient(), (c) => openRemote(c, tokenProxy().host));
    expect(statusOf(error)).toBe(503);
    expect(realmProxy().count({ method: "GET", path: "/token" })).toBe(6);
    // the ping succeeded (a challenge) and is remembered; no manifest request went out without a token
    expect(tokenProxy().count({ method: "GET", path: PING })).toBe(1);
    expect(tokenProxy().count({ path: MANIFESTS })).toBe(0);
  });

  it("is tried exactly once per openRemoteImage attempt when its connection drops: 6 token requests (was 6 × 5)", async () => {
    challengeViaRealmProxy();
    realmProxy().addRule({ method: "GET", path: /^\/token$/, fault: faults.drop({ rst: true }) });
    const { error } = await settle(tokenClient(), (c) => openRemote(c, tokenProxy().host));
    expect(error).toBeInstanceOf(NetworkError);
    expect(realmProxy().count({ method: "GET", path: "/token" })).toBe(6);
    expect(tokenProxy().count({ path: MANIFESTS })).toBe(0);
  });

  it("is tried at most 5 times by a request with the default policy", async () => {
    challengeViaRealmProxy();
    realmProxy().addRule({ method: "GET", path: /^\/token$/, fault: faults.serverError(502) });
    const { error } = await settle(tokenClient(), (c) => new RemoteImage(c, Reference.parse(`${tokenProxy().host}/cnb/run:latest`)).manifest());
    expect(statusOf(error)).toBe(502);
    expect(realmProxy().count({ method: "GET", path: "/token" })).toBe(DEFAULT_RETRY_POLICY.attempts);
    expect(tokenProxy().count({ method: "GET", path: PING })).toBe(1);
    expect(tokenProxy().count({ path: MANIFESTS })).toBe(0);
  });

  it("is tried at most 5 times by a request with the default policy when its connection drops (was 5 × 5)", async () => {
    challengeViaRealmProxy();
    realmProxy().addRule({ method: "GET", path: /^\/token$/, fault: faults.drop({ rst: true }) });
    const { error } = await settle(tokenClient(), (c) => new RemoteImage(c, Reference.parse(`${tokenProxy().host}/cnb/run:latest`)).manifest());
    expect(error).toBeInstanceOf(NetworkError);
    expect(realmProxy().count({ method: "GET", path: "/token" })).toBe(DEFAULT_RETRY_POLICY.attempts);
    expect(tokenProxy().count({ path: MANIFESTS })).toBe(0);
  });

  it("is not retried at all for a NO_RETRY request", async () => {
    challengeViaRealmProxy();
    realmProxy().addRule({ method: "GET", path: /^\/token$/, fault: faults.serverError(503) });
    const { error } = await settle(tokenClient(), (c) => new RemoteImage(c, Reference.parse(`${tokenProxy().host}/cnb/run:latest`), { retry: NO_RETRY }).manifest());
    expect(statusOf(error)).toBe(503);
    expect(realmProxy().count({ method: "GET", path: "/token" })).toBe(1);
  });
});
