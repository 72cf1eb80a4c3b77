import { createHash } from "node:crypto";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { fetch } from "undici";
import { skopeoPushLayout } from "./check/skopeo.js";
import type { ImageManifest } from "./check/oci-schemas.js";
import { busyboxLayer } from "./fixtures/layer-files.js";
import { buildRunImage } from "./fixtures/run-image.js";
import { faults } from "./proxy/faults.js";
import { ACCEPT_MANIFESTS, registryAuthorization } from "./registry/registry-http.js";
import { expectNoLeakedProcesses } from "./vitest/expect-no-leaks.js";
import { useFaultProxy } from "./vitest/use-fault-proxy.js";
import { useRegistry } from "./vitest/use-registry.js";
import { useTempDir } from "./vitest/use-temp-dir.js";

expectNoLeakedProcesses();
const registry = useRegistry("plain");
const proxy = useFaultProxy(registry);
const tokenRegistry = useRegistry("token");
const tokenProxy = useFaultProxy(tokenRegistry);
const tlsRegistry = useRegistry("tls");
const tlsProxy = useFaultProxy(tlsRegistry);
const temp = useTempDir("fault-proxy");

const BIG = 1024 * 1024 + 3;
let manifest: ImageManifest;
let bigLayer: { digest: string; size: number };

const MANIFEST_PATH = /^\/v2\/cnb\/run\/manifests\//;
const BLOB_PATH = /^\/v2\/cnb\/run\/blobs\/sha256:/;
const sha256 = (data: ArrayBuffer): string => `sha256:${createHash("sha256").update(Buffer.from(data)).digest("hex")}`;

beforeAll(async () => {
  const image = await buildRunImage(join(temp(), "layout"), { layers: [busyboxLayer(), { files: [{ path: "data/big.bin", size: BIG }] }] });
  await skopeoPushLayout(image.layoutDir, image.tag, registry(), "cnb/run:latest");
  await skopeoPushLayout(image.layoutDir, image.tag, tokenRegistry(), "cnb/run:latest");
  manifest = image.manifest;
  const layer = manifest.layers[1];
  if (!layer) throw new Error("fixture has no second layer");
  bigLayer = layer;
});

/** Resolves once `check` holds (polled every 10 ms), rejects after 5 s. */
async function until(check: () => boolean): Promise<void> {
  for (const started = Date.now(); !check(); ) {
    if (Date.now() - started > 5000) throw new Error("condition not reached within 5 s");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function getManifest(base: string, headers: Record<string, string> = {}): ReturnType<typeof fetch> {
  return fetch(`${base}/v2/cnb/run/manifests/latest`, { headers: { accept: ACCEPT_MANIFESTS, ...headers } });
}

describe("fault proxy", () => {
  it("forwards requests unchanged when no rule applies", async () => {
    const response = await getManifest(proxy().url);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/vnd.oci.image.manifest.v1+json");
    expect(((await response.json()) as ImageManifest).layers).toHaveLength(2);
    expect(proxy().counts()).toEqual({ "GET /v2/cnb/run/manifests/latest": 1 });
  });

  it("answers 5xx for the first N requests, then forwards", async () => {
    const rule = proxy().addRule({ method: "GET", path: /^\/v2\/$/, times: 2, fault: faults.serverError(503) });
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) {
      const response = await fetch(`${proxy().url}/v2/`);
      statuses.push(response.status);
      const body = (await response.json()) as { errors?: { code: string }[] };
      if (response.status === 503) expect(body.errors?.[0]?.code).toBe("UNAVAILABLE");
    }
    expect(statuses).toEqual([503, 503, 200]);
    expect([rule.matched, rule.hits, rule.remaining]).toEqual([3, 2, 0]);
    expect(proxy().count({ method: "GET", path: "/v2/" })).toBe(3);
    expect(proxy().requests().map((r) => [r.status, r.fault])).toEqual([[503, rule.name], [503, rule.name], [200, undefined]]);
  });

  it("answers 429 with Retry-After, then forwards", async () => {
    const rule = proxy().addRule({ method: "GET", path: MANIFEST_PATH, times: 1, fault: faults.tooManyRequests(3) });
    const limited = await getManifest(proxy().url);
    expect(limited.status).toBe(429);
    expect(limited.headers.get("retry-after")).toBe("3");
    expect(((await limited.json()) as { errors: { code: string }[] }).errors[0]?.code).toBe("TOOMANYREQUESTS");
    const ok = await getManifest(proxy().url);
    expect(ok.status).toBe(200);
    await ok.body?.cancel();
    expect(rule.hits).toBe(1);
    expect(proxy().count({ path: MANIFEST_PATH })).toBe(2);
  });

  it("drops the connection mid-body after sending headers and part of the blob", async () => {
    proxy().addRule({ method: "GET", path: BLOB_PATH, times: 1, fault: faults.resetMidBody() });
    const url = `${proxy().url}/v2/cnb/run/blobs/${bigLayer.digest}`;
    const broken = await fetch(url);
    expect(broken.status).toBe(200);
    expect(Number(broken.headers.get("content-length"))).toBe(bigLayer.size);
    let received = 0;
    const failure = await (async () => {
      for await (const chunk of broken.body ?? []) received += (chunk as Uint8Array).length;
    })().then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(Error);
    expect(received).toBeGreaterThan(0);
    expect(received).toBeLessThan(bigLayer.size);

    const whole = await fetch(url);
    expect(sha256(await whole.arrayBuffer())).toBe(bigLayer.digest);
    expect(proxy().requests({ path: BLOB_PATH }).map((r) => r.status)).toEqual([200, 200]);
  });

  it("can reset with a TCP RST and a fixed byte count", async () => {
    proxy().addRule({ method: "GET", path: BLOB_PATH, times: 1, fault: faults.resetMidBody({ bytes: 1000, rst: true }) });
    const result = await fetch(`${proxy().url}/v2/cnb/run/blobs/${bigLayer.digest}`).then((r) => r.arrayBuffer()).then(
      () => "complete",
      () => "failed",
    );
    expect(result).toBe("failed");
  });

  it("serves the manifest with empty layers for the first N GETs, then the real one", async () => {
    const rule = proxy().addRule({ method: "GET", path: MANIFEST_PATH, times: 2, fault: faults.emptyLayers() });
    const head = await fetch(`${proxy().url}/v2/cnb/run/manifests/latest`, { method: "HEAD", headers: { accept: ACCEPT_MANIFESTS } });
    expect(head.status).toBe(200);
    for (let i = 0; i < 2; i++) {
      const response = await getManifest(proxy().url);
      expect(response.headers.get("content-type")).toBe("application/vnd.oci.image.manifest.v1+json");
      const body = await response.arrayBuffer();
      expect(response.headers.get("docker-content-digest")).toBe(sha256(body));
      const served = JSON.parse(Buffer.from(body).toString("utf8")) as ImageManifest;
      expect(served.layers).toEqual([]);
      expect(served.config.digest).toBe(manifest.config.digest);
    }
    const real = (await (await getManifest(proxy().url)).json()) as ImageManifest;
    expect(real.layers.map((l) => l.digest)).toEqual(manifest.layers.map((l) => l.digest));
    expect([rule.matched, rule.hits]).toEqual([3, 2]);
  });

  it("answers 401 with a plain-text body", async () => {
    proxy().addRule({ method: "GET", path: /^\/v2\/$/, times: 1, fault: faults.plainTextUnauthorized() });
    const response = await fetch(`${proxy().url}/v2/`);
    expect(response.status).toBe(401);
    expect(response.headers.get("content-type")).toMatch(/^text\/plain/);
    const text = await response.text();
    expect(() => JSON.parse(text) as unknown).toThrow();
    expect(response.headers.get("www-authenticate")).toBeNull();
  });

  it("answers an arbitrary status with a registry-style JSON error", async () => {
    proxy().addRule({ method: "GET", path: MANIFEST_PATH, fault: faults.registryError(403, "DENIED", "requested access to the resource is denied") });
    for (let i = 0; i < 2; i++) {
      const response = await getManifest(proxy().url);
      expect(response.status).toBe(403);
      expect(await response.json()).toEqual({ errors: [{ code: "DENIED", message: "requested access to the resource is denied", detail: null }] });
    }
  });

  it.each(["json", "text", "bare"] as const)("echoes the request's Authorization header in a %s error body", async (format) => {
    const rule = proxy().addRule({ method: "GET", path: MANIFEST_PATH, times: 1, fault: faults.echoAuthorization(403, format) });
    const authorization = "Basic ZWNobzpzZWNyZXQ=";
    const response = await getManifest(proxy().url, { authorization });
    expect(response.status).toBe(403);
    expect(response.headers.get("content-type")).toMatch(format === "text" ? /^text\/plain/ : /^application\/json/);
    const text = await response.text();
    expect(text).toContain(format === "bare" ? "ZWNobzpzZWNyZXQ=" : authorization);
    if (format === "bare") expect(text).not.toContain("Basic");
    if (format === "json") expect((JSON.parse(text) as { errors: { detail: unknown }[] }).errors[0]?.detail).toEqual({ Authorization: [authorization] });
    expect((await getManifest(proxy().url)).status).toBe(200);
    expect(rule.hits).toBe(1);
  });

  it.each([
    ["a FIN", false],
    ["a TCP reset", true],
  ])("drops the connection with %s before answering", async (_name, rst) => {
    const rule = proxy().addRule({ method: "GET", path: /^\/v2\/$/, times: 1, fault: faults.drop({ rst }) });
    const failure = await fetch(`${proxy().url}/v2/`).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(Error);
    expect((await fetch(`${proxy().url}/v2/`)).status).toBe(200);
    expect(rule.hits).toBe(1);
    expect(proxy().requests({ path: "/v2/" }).map((r) => [r.status, r.fault])).toEqual([
      [0, rule.name],
      [200, undefined],
    ]);
  });

  it("stalls a request until the client aborts it, then counts the fault as applied", async () => {
    const rule = proxy().addRule({ method: "GET", path: MANIFEST_PATH, times: 1, fault: faults.stall() });
    const controller = new AbortController();
    const pending = fetch(`${proxy().url}/v2/cnb/run/manifests/latest`, { signal: controller.signal }).then(
      () => "answered",
      () => "aborted",
    );
    await until(() => proxy().count({ path: MANIFEST_PATH }) === 1);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(rule.hits).toBe(0);
    controller.abort();
    expect(await pending).toBe("aborted");
    await until(() => rule.hits === 1);
    expect(proxy().requests({ path: MANIFEST_PATH }).map((r) => [r.status, r.fault])).toEqual([[0, rule.name]]);
  });

  it("redirects blob GETs to another host name that records the Authorization header", async () => {
    const rule = proxy().addRule({ method: "GET", path: BLOB_PATH, fault: faults.redirectToOtherHost() });
    const url = `${proxy().url}/v2/cnb/run/blobs/${bigLayer.digest}`;
    const authorization = "Bearer not-for-other-hosts";

    const redirect = await fetch(url, { redirect: "manual", headers: { authorization } });
    expect(redirect.status).toBe(307);
    const location = new URL(redirect.headers.get("location") ?? "");
    expect(location.hostname).toBe("localhost");
    expect(location.host).not.toBe(proxy().host);

    const withAuth = await fetch(location, { headers: { authorization } });
    expect(sha256(await withAuth.arrayBuffer())).toBe(bigLayer.digest);
    const withoutAuth = await fetch(location);
    expect(sha256(await withoutAuth.arrayBuffer())).toBe(bigLayer.digest);
    // fetch's own redirect handling drops Authorization on a cross-origin redirect.
    const followed = await fetch(url, { headers: { authorization } });
    expect(sha256(await followed.arrayBuffer())).toBe(bigLayer.digest);

    expect(proxy().redirects.requests().map((r) => [r.method, r.authorization, r.status])).toEqual([
      ["GET", true, 200],
      ["GET", false, 200],
      ["GET", false, 200],
    ]);
    expect(proxy().requests({ path: BLOB_PATH }).map((r) => [r.status, r.authorization])).toEqual([[307, true], [307, true]]);
    expect(rule.hits).toBe(2);
  });

  it("rewrites upstream Locations and counts upload bytes and Authorization", async () => {
    const start = await fetch(`${proxy().url}/v2/cnb/upload/blobs/uploads/`, { method: "POST" });
    expect(start.status).toBe(202);
    const location = new URL(start.headers.get("location") ?? "", proxy().url);
    expect(location.origin).toBe(proxy().url);
    const data = Buffer.alloc(1000, 7);
    location.searchParams.set("digest", sha256(data.buffer.slice(data.byteOffset, data.byteOffset + data.length)));
    const put = await fetch(location, { method: "PUT", body: data, headers: { authorization: "Basic eDp5", "content-type": "application/octet-stream" } });
    expect(put.status).toBe(201);
    expect(new URL(put.headers.get("location") ?? "", proxy().url).origin).toBe(proxy().url);
    expect(put.headers.get("docker-content-digest")).toBe(location.searchParams.get("digest"));
    const records = proxy().requests().map((r) => ({ method: r.method, status: r.status, bytes: r.requestBytes, auth: r.authorization }));
    expect(records).toEqual([
      { method: "POST", status: 202, bytes: 0, auth: false },
      { method: "PUT", status: 201, bytes: 1000, auth: true },
    ]);
  });

  it("reads a faulted upload's body before answering", async () => {
    proxy().addRule({ method: "PUT", path: /\/blobs\/uploads\//, times: 1, fault: faults.serverError(500) });
    const start = await fetch(`${proxy().url}/v2/cnb/upload/blobs/uploads/`, { method: "POST" });
    const location = new URL(start.headers.get("location") ?? "", proxy().url);
    location.searchParams.set("digest", `sha256:${"0".repeat(64)}`);
    const put = await fetch(location, { method: "PUT", body: Buffer.alloc(200_000, 1) });
    expect(put.status).toBe(500);
    expect(proxy().requests({ method: "PUT" })[0]).toMatchObject({ status: 500, requestBytes: 200_000 });
  });

  it("throttles a download's response body to the given rate, bytes intact", async () => {
    const rule = proxy().addRule({ method: "GET", path: BLOB_PATH, fault: faults.throttle(400_000, "response") });
    const started = Date.now();
    const response = await fetch(`${proxy().url}/v2/cnb/run/blobs/${bigLayer.digest}`);
    const body = await response.arrayBuffer();
    const seconds = (Date.now() - started) / 1000;
    expect(response.status).toBe(200);
    expect(sha256(body)).toBe(bigLayer.digest);
    // 1 MiB at 400 kB/s takes 2.6 s; unthrottled it takes milliseconds
    expect(seconds).toBeGreaterThan(2.3);
    expect(seconds).toBeLessThan(8);
    expect([rule.matched, rule.hits]).toEqual([1, 1]);
    expect(proxy().requests()[0]).toMatchObject({ status: 200, fault: rule.name });
  });

  it("throttles an upload's request body, so the client's send is slowed, and the registry gets every byte", async () => {
    const rule = proxy().addRule({ method: "PUT", path: /\/blobs\/uploads\//, fault: faults.throttle(200_000, "request") });
    const start = await fetch(`${proxy().url}/v2/cnb/upload/blobs/uploads/`, { method: "POST" });
    const location = new URL(start.headers.get("location") ?? "", proxy().url);
    const data = Buffer.alloc(500_000, 9);
    location.searchParams.set("digest", sha256(data.buffer.slice(data.byteOffset, data.byteOffset + data.length)));
    const started = Date.now();
    const put = await fetch(location, { method: "PUT", body: data, headers: { "content-type": "application/octet-stream" } });
    const seconds = (Date.now() - started) / 1000;
    expect(put.status).toBe(201);
    expect(put.headers.get("docker-content-digest")).toBe(location.searchParams.get("digest"));
    expect(seconds).toBeGreaterThan(2.2);
    expect(seconds).toBeLessThan(8);
    expect(rule.hits).toBe(1);
    expect(proxy().requests({ method: "PUT" })[0]).toMatchObject({ status: 201, requestBytes: 500_000, fault: rule.name });
  });

  it("lets rules be added and cleared while running, and counters reset", async () => {
    proxy().addRule({ path: /^\/v2\/$/, fault: faults.serverError(502) });
    expect((await fetch(`${proxy().url}/v2/`)).status).toBe(502);
    expect((await fetch(`${proxy().url}/v2/`)).status).toBe(502);
    proxy().clearRules();
    expect((await fetch(`${proxy().url}/v2/`)).status).toBe(200);
    expect(proxy().count()).toBe(3);
    proxy().resetCounters();
    expect(proxy().count()).toBe(0);
    expect(proxy().counts()).toEqual({});
  });

  it("passes token challenges through and applies body faults only to successful answers", async () => {
    const rule = tokenProxy().addRule({ method: "GET", path: MANIFEST_PATH, times: 1, fault: faults.emptyLayers() });
    const challenge = await getManifest(tokenProxy().url);
    expect(challenge.status).toBe(401);
    expect(challenge.headers.get("www-authenticate")).toContain(`realm="${tokenRegistry().tokenServer?.realm ?? ""}"`);
    await challenge.body?.cancel();
    expect(rule.hits).toBe(0);
    const authorization = await registryAuthorization(tokenRegistry(), ["repository:cnb/run:pull"]);
    const empty = (await (await getManifest(tokenProxy().url, authorization)).json()) as ImageManifest;
    expect(empty.layers).toEqual([]);
    const real = (await (await getManifest(tokenProxy().url, authorization)).json()) as ImageManifest;
    expect(real.layers).toHaveLength(2);
    expect(tokenProxy().requests().map((r) => [r.status, r.authorization])).toEqual([[401, false], [200, true], [200, true]]);
  });

  it("forwards plain HTTP to an https upstream and keeps clients on the proxy", async () => {
    expect(tlsProxy().upstreamUrl).toMatch(/^https:/);
    const ping = await fetch(`${tlsProxy().url}/v2/`);
    expect(ping.status).toBe(200);
    await ping.body?.cancel();
    const start = await fetch(`${tlsProxy().url}/v2/cnb/tls/blobs/uploads/`, { method: "POST" });
    expect(start.status).toBe(202);
    expect(start.headers.get("location")?.startsWith(`${tlsProxy().url}/v2/cnb/tls/blobs/uploads/`)).toBe(true);
    expect(tlsProxy().count()).toBe(2);
  });
});
