// Transport retries against a real registry behind the fault proxy: which faults are retried,
// how often (from the proxy's request counters), Retry-After handling, Range resume of blob
// downloads and upload restarts from POST.
import { createHash, randomBytes } from "node:crypto";
import { join } from "node:path";
import { Readable } from "node:stream";
import { beforeAll, describe, expect, it } from "vitest";
import { RemoteImage, type RemoteLayer } from "../../src/image/remote-image.js";
import { headBlob, readBlob } from "../../src/registry/blobs.js";
import { RegistryClient } from "../../src/registry/client.js";
import { NetworkError, RateLimitError, RegistryError, statusOf } from "../../src/registry/errors.js";
import { anonymousKeychain, DefaultKeychain } from "../../src/registry/keychain.js";
import { Reference } from "../../src/registry/reference.js";
import { NO_RETRY, type RetryPolicy } from "../../src/registry/retry.js";
import { uploadBlob } from "../../src/registry/upload.js";
import {
  basicAuthorization,
  busyboxLayer,
  buildRunImage,
  expectNoLeakedProcesses,
  faults,
  pushImage as skopeoPush,
  useFaultProxy,
  useRegistry,
  useTempDir,
  type BuiltImage,
  type Fault,
} from "../harness/index.js";

expectNoLeakedProcesses();
const temp = useTempDir("registry-retry");
const registry = useRegistry("plain");
const proxy = useFaultProxy(registry);
const htpasswd = useRegistry("htpasswd");
const htpasswdProxy = useFaultProxy(htpasswd);

const FAST: RetryPolicy = { attempts: 4, baseDelayMs: 20, maxDelayMs: 200, maxRetryAfterMs: 60_000 };
const BIG = 3 * 1024 * 1024 + 17;
const MANIFESTS = /^\/v2\/cnb\/run\/manifests\//;

let fixture: BuiltImage;
let bigDigest: string;

const sha256 = (data: Uint8Array): string => `sha256:${createHash("sha256").update(data).digest("hex")}`;

async function withClient<T>(fn: (client: RegistryClient) => Promise<T>, client = new RegistryClient({ keychain: anonymousKeychain, retry: FAST })): Promise<T> {
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

function runImage(client: RegistryClient, tag = "latest"): RemoteImage {
  return new RemoteImage(client, Reference.parse(`${proxy().host}/cnb/run:${tag}`));
}

async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error("expected a failure");
    },
    (err: unknown) => err,
  );
}

beforeAll(async () => {
  fixture = await buildRunImage(join(temp(), "layout"), { layers: [busyboxLayer(), { files: [{ path: "data/big.bin", size: BIG }] }] });
  await skopeoPush(fixture, registry(), "cnb/run:latest");
  await skopeoPush(fixture, htpasswd(), "cnb/run:latest");
  bigDigest = fixture.manifest.layers[1]?.digest ?? "";
});

describe("transport retries", () => {
  it("retries a 503 twice and succeeds on the third GET", async () => {
    const rule = proxy().addRule({ method: "GET", path: MANIFESTS, times: 2, fault: faults.serverError(503) });
    const manifest = await withClient((client) => runImage(client).manifest());
    expect(manifest.digest).toBe(fixture.descriptor.digest);
    expect(rule.hits).toBe(2);
    expect(proxy().requests({ method: "GET", path: MANIFESTS }).map((r) => r.status)).toEqual([503, 503, 200]);
  });

  it("gives up after the policy's attempts with the registry's error", async () => {
    proxy().addRule({ method: "GET", path: MANIFESTS, fault: faults.serverError(502) });
    const err = await withClient((client) => failure(runImage(client).manifest()));
    expect(err).toBeInstanceOf(RegistryError);
    expect((err as Error).message).toMatch(/: UNKNOWN: injected 502$/);
    expect(proxy().count({ method: "GET", path: MANIFESTS })).toBe(FAST.attempts);
  });

  it.each([
    ["a FIN", false],
    ["a TCP reset", true],
  ])("resumes a blob download cut by %s mid-body with a Range request and still verifies it", async (_name, rst) => {
    const rule = proxy().addRule({ method: "GET", path: new RegExp(`/blobs/${bigDigest}$`), times: 1, fault: faults.resetMidBody({ rst }) });
    const data = await withClient(async (client) => {
      const layers = (await runImage(client).layers()) as RemoteLayer[];
      const big = layers.find((l) => l.digest === bigDigest);
      if (!big) throw new Error("no big layer");
      const chunks: Buffer[] = [];
      for await (const chunk of await big.open()) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    });
    expect(rule.hits).toBe(1);
    expect(data.length).toBe(fixture.manifest.layers[1]?.size);
    expect(sha256(data)).toBe(bigDigest);
    // the second request asked for the rest only: the registry answered 206 Partial Content
    expect(proxy().requests({ method: "GET", path: new RegExp(`/blobs/${bigDigest}$`) }).map((r) => [r.status, r.fault])).toEqual([
      [200, rule.name],
      [206, undefined],
    ]);
  });

  it("retries a manifest GET whose body is cut off mid-way", async () => {
    const rule = proxy().addRule({ method: "GET", path: MANIFESTS, times: 1, fault: faults.resetMidBody({ rst: true }) });
    const manifest = await withClient((client) => runImage(client).manifest());
    expect(manifest.digest).toBe(fixture.descriptor.digest);
    expect(rule.hits).toBe(1);
    expect(proxy().count({ method: "GET", path: MANIFESTS })).toBe(2);
  });

  it("reports a manifest body cut off without retries as a NetworkError naming the request", async () => {
    proxy().addRule({ method: "GET", path: MANIFESTS, times: 1, fault: faults.resetMidBody({ rst: true }) });
    const err = await withClient((client) => failure(new RemoteImage(client, Reference.parse(`${proxy().host}/cnb/run:latest`), { retry: NO_RETRY }).manifest()));
    expect(err).toBeInstanceOf(NetworkError);
    expect((err as NetworkError).temporary).toBe(true);
    expect((err as Error).message).toMatch(new RegExp(`^GET http://${proxy().host.replace(/\./g, "\\.")}/v2/cnb/run/manifests/latest: `));
    expect(proxy().count({ method: "GET", path: MANIFESTS })).toBe(1);
  });

  it("waits for a 429's Retry-After of 1 s, then succeeds", async () => {
    const rule = proxy().addRule({ method: "GET", path: MANIFESTS, times: 1, fault: faults.tooManyRequests(1) });
    const started = performance.now();
    const manifest = await withClient((client) => runImage(client).manifest());
    const elapsed = performance.now() - started;
    expect(manifest.digest).toBe(fixture.descriptor.digest);
    expect(rule.hits).toBe(1);
    expect(elapsed).toBeGreaterThanOrEqual(990);
    expect(elapsed).toBeLessThan(3000);
    expect(proxy().requests({ method: "GET", path: MANIFESTS }).map((r) => r.status)).toEqual([429, 200]);
  });

  it.each([
    ["delta seconds", "3600"],
    ["an HTTP date", new Date(Date.now() + 2 * 3600_000).toUTCString()],
  ])("fails fast with a rate-limit error naming the registry when Retry-After (%s) exceeds the cap", async (_name, retryAfter) => {
    proxy().addRule({ method: "GET", path: MANIFESTS, fault: faults.tooManyRequests(retryAfter) });
    const started = performance.now();
    const err = await withClient((client) => failure(runImage(client).manifest()));
    expect(performance.now() - started).toBeLessThan(2000);
    expect(err).toBeInstanceOf(RateLimitError);
    expect((err as Error).message).toMatch(new RegExp(`^registry ${proxy().host.replace(/\./g, "\\.")} is rate limiting requests and asked to retry after \\d+s: .*TOOMANYREQUESTS`));
    expect(statusOf(err)).toBe(429);
    expect(proxy().count({ method: "GET", path: MANIFESTS })).toBe(1);
  });

  it.each<[string, Fault | undefined, number, RegExp]>([
    ["401 with a plain-text body", faults.plainTextUnauthorized("you shall not pass\n"), 401, /unexpected status code 401 Unauthorized: you shall not pass$/],
    ["403", faults.registryError(403, "DENIED", "requested access to the resource is denied"), 403, /DENIED: requested access to the resource is denied/],
    ["404", undefined, 404, /MANIFEST_UNKNOWN/],
  ])("does not retry a %s (exactly one request)", async (_name, fault, status, message) => {
    if (fault) proxy().addRule({ method: "GET", path: MANIFESTS, fault });
    const err = await withClient((client) => failure(runImage(client, fault ? "latest" : "missing").manifest()));
    expect(statusOf(err)).toBe(status);
    expect((err as Error).message).toMatch(message);
    expect(proxy().count({ method: "GET", path: MANIFESTS })).toBe(1);
  });

  it("sends wrong Basic credentials once, not again after the 401 challenge", async () => {
    const env = { HOME: temp(), CNB_REGISTRY_AUTH: JSON.stringify({ [htpasswdProxy().host]: basicAuthorization({ username: "testuser", password: "wrong" }) }) };
    const client = new RegistryClient({ keychain: new DefaultKeychain({ env }), env, retry: FAST });
    const err = await withClient(
      (c) => failure(new RemoteImage(c, Reference.parse(`${htpasswdProxy().host}/cnb/run:latest`)).manifest()),
      client,
    );
    expect(statusOf(err)).toBe(401);
    expect(htpasswdProxy().requests({ method: "GET", path: MANIFESTS }).map((r) => [r.status, r.authorization])).toEqual([[401, true]]);
  });
});

describe("upload restarts", () => {
  const blob = randomBytes(2 * 1024 * 1024 + 5);
  const digest = sha256(blob);
  const source = { digest, size: blob.length, open: () => Readable.from([blob.subarray(0, 1 << 20), blob.subarray(1 << 20)]) };

  it.each([
    ["PATCH", 503],
    ["PUT", 500],
  ])("restarts a blob upload from POST when its %s fails with %d", async (method, status) => {
    const repo = `cnb/upload-${method.toLowerCase()}`;
    const rule = proxy().addRule({ method, path: /\/blobs\/uploads\//, times: 1, fault: faults.serverError(status) });
    const result = await withClient(async (client) => {
      const r = client.repository(Reference.parse(`${proxy().host}/${repo}:latest`), { push: true });
      const uploaded = await uploadBlob(r, source, { policy: FAST });
      expect(await headBlob(r, digest)).toBe(blob.length);
      expect((await readBlob(r, digest, { size: blob.length })).equals(blob)).toBe(true);
      return uploaded;
    });
    expect(result).toEqual({ digest, size: blob.length, outcome: "uploaded" });
    expect(rule.hits).toBe(1);
    const uploads = proxy()
      .requests({ path: new RegExp(`^/v2/${repo}/blobs/uploads/`) })
      .map((r) => `${r.method} ${r.status}`);
    expect(uploads).toEqual(
      method === "PATCH"
        ? ["POST 202", `PATCH ${status}`, "POST 202", "PATCH 202", "PUT 201"]
        : ["POST 202", "PATCH 202", `PUT ${status}`, "POST 202", "PATCH 202", "PUT 201"],
    );
    // every PATCH carried the whole blob
    expect(proxy().requests({ method: "PATCH" }).map((r) => r.requestBytes)).toEqual([blob.length, blob.length]);
  });
});
