// Blob transfers that must stay safe: redirects to another host never carry credentials, and
// content that does not match its digest or size is never passed on silently, neither by a pull
// nor by a push that streams a corrupted source blob into another registry.
import { createHash } from "node:crypto";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { pushImage } from "../../src/image/registry-writer.js";
import { RemoteImage } from "../../src/image/remote-image.js";
import type { Layer } from "../../src/image/types.js";
import { checkReadAccess } from "../../src/registry/access.js";
import { headBlob, readBlob } from "../../src/registry/blobs.js";
import { RegistryClient } from "../../src/registry/client.js";
import { DefaultKeychain } from "../../src/registry/keychain.js";
import { getManifest } from "../../src/registry/manifests.js";
import { Reference } from "../../src/registry/reference.js";
import type { RetryPolicy } from "../../src/registry/retry.js";
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
  type Credentials,
} from "../harness/index.js";
import { DigestMismatchError } from "../../src/oci/digest.js";

expectNoLeakedProcesses();
const temp = useTempDir("blob-integrity");

const FAST: RetryPolicy = { attempts: 4, baseDelayMs: 20, maxDelayMs: 200, maxRetryAfterMs: 60_000 };
const BIG = 2 * 1024 * 1024 + 11;

let fixture: BuiltImage;

const sha256 = (data: Uint8Array): string => `sha256:${createHash("sha256").update(data).digest("hex")}`;

function clientFor(host: string, credentials: Credentials | undefined): RegistryClient {
  const env: NodeJS.ProcessEnv = { HOME: temp() };
  if (credentials) env.CNB_REGISTRY_AUTH = JSON.stringify({ [host]: basicAuthorization(credentials) });
  return new RegistryClient({ keychain: new DefaultKeychain({ env }), env, retry: FAST });
}

async function withClient<T>(client: RegistryClient, fn: (client: RegistryClient) => Promise<T>): Promise<T> {
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

/** Reads a layer's blob to the end; resolves to the bytes read and the stream's error, if any. */
async function drain(layer: Layer): Promise<{ bytes: number; error?: unknown }> {
  let bytes = 0;
  try {
    for await (const chunk of await layer.open()) bytes += (chunk as Buffer).length;
    return { bytes };
  } catch (error) {
    return { bytes, error };
  }
}

beforeAll(async () => {
  fixture = await buildRunImage(join(temp(), "layout"), { layers: [busyboxLayer(), { files: [{ path: "data/big.bin", size: BIG }] }] });
});

describe.each(["htpasswd", "token"] as const)("a blob redirect to another host (%s registry)", (kind) => {
  const registry = useRegistry(kind);
  const proxy = useFaultProxy(registry);

  beforeAll(async () => {
    await skopeoPush(fixture, registry(), "cnb/run:latest");
  });

  it("carries no Authorization header there, while the registry's own requests do", async () => {
    const rule = proxy().addRule({ method: "GET", path: /^\/v2\/cnb\/run\/blobs\/sha256:/, fault: faults.redirectToOtherHost() });
    const digests = await withClient(clientFor(proxy().host, registry().credentials), async (client) => {
      const image = new RemoteImage(client, Reference.parse(`${proxy().host}/cnb/run:latest`));
      const out: string[] = [(await image.config()).digest];
      for (const layer of await image.layers()) {
        const { bytes, error } = await drain(layer);
        expect(error).toBeUndefined();
        expect(bytes).toBe(layer.size);
        out.push(layer.digest);
      }
      return out;
    });
    expect(digests).toEqual([fixture.manifest.config.digest, ...fixture.manifest.layers.map((l) => l.digest)]);
    expect(rule.hits).toBe(digests.length);
    const atRegistry = proxy().requests({ method: "GET", path: /\/blobs\/sha256:/ });
    expect(atRegistry.map((r) => [r.status, r.authorization])).toEqual(digests.map(() => [307, true]));
    const elsewhere = proxy().redirects.requests();
    expect(elsewhere.map((r) => [r.method, r.status, r.authorization])).toEqual(digests.map(() => ["GET", 200, false]));
    expect(elsewhere.every((r) => r.headers.authorization === undefined && new URL(r.url, proxy().redirects.origin).hostname === "localhost")).toBe(true);
  });
});

describe("corrupted content", () => {
  const registry = useRegistry("plain");
  const proxy = useFaultProxy(registry);
  const target = useRegistry("plain");
  let big: { digest: string; size: number };

  beforeAll(async () => {
    await skopeoPush(fixture, registry(), "cnb/run:latest");
    const layer = fixture.manifest.layers[1];
    if (!layer) throw new Error("fixture without a big layer");
    big = layer;
  });

  const corruptBig = (body: string, times?: number) =>
    proxy().addRule({
      method: "GET",
      path: new RegExp(`/blobs/${big.digest}$`),
      times,
      fault: faults.respond(200, body, { "content-type": "application/octet-stream" }),
    });

  it("fails a layer stream whose bytes do not match the digest (same length, other content)", async () => {
    const rule = corruptBig("x".repeat(big.size));
    const result = await withClient(clientFor(proxy().host, undefined), async (client) => {
      const layer = (await new RemoteImage(client, Reference.parse(`${proxy().host}/cnb/run:latest`)).layers()).find((l) => l.digest === big.digest);
      if (!layer) throw new Error("big layer missing");
      return drain(layer);
    });
    expect(rule.hits).toBe(1);
    expect(result.error).toBeInstanceOf(DigestMismatchError);
    expect((result.error as Error).message).toBe(`blob ${big.digest} failed verification: content has digest ${sha256(Buffer.from("x".repeat(big.size)))}`);
  });

  it("fails a layer stream that is longer than the manifest says", async () => {
    corruptBig("y".repeat(big.size + 100));
    const result = await withClient(clientFor(proxy().host, undefined), async (client) => {
      const layer = (await new RemoteImage(client, Reference.parse(`${proxy().host}/cnb/run:latest`)).layers()).find((l) => l.digest === big.digest);
      if (!layer) throw new Error("big layer missing");
      return drain(layer);
    });
    expect(result.error).toBeInstanceOf(DigestMismatchError);
    expect((result.error as Error).message).toBe(`blob ${big.digest} is larger than its declared size ${big.size}`);
    expect(result.bytes).toBeLessThanOrEqual(big.size);
  });

  it("rejects a corrupted config blob and a manifest fetched by digest that has another digest", async () => {
    const configDigest = fixture.manifest.config.digest;
    proxy().addRule({ method: "GET", path: new RegExp(`/blobs/${configDigest}$`), times: 1, fault: faults.respond(200, "{}".padEnd(fixture.manifest.config.size, " ")) });
    proxy().addRule({
      method: "GET",
      path: new RegExp(`/manifests/${fixture.descriptor.digest}$`),
      times: 1,
      fault: faults.respond(200, JSON.stringify({ ...fixture.manifest, layers: [] }), { "content-type": "application/vnd.oci.image.manifest.v1+json" }),
    });
    await withClient(clientFor(proxy().host, undefined), async (client) => {
      const repo = client.repository(`${proxy().host}/cnb/run:latest`);
      await expect(readBlob(repo, configDigest, { size: fixture.manifest.config.size })).rejects.toThrow(DigestMismatchError);
      await expect(getManifest(repo, fixture.descriptor.digest)).rejects.toThrow(
        new DigestMismatchError(`manifest ${proxy().host}/cnb/run@${fixture.descriptor.digest} has digest ${sha256(Buffer.from(JSON.stringify({ ...fixture.manifest, layers: [] })))}`),
      );
    });
  });

  it("never pushes a corrupted source blob into another registry, and does not retry the mismatch", async () => {
    corruptBig("z".repeat(big.size));
    const targetRef = Reference.parse(`${target().host}/cnb/copy:v1`);
    const err = await withClient(clientFor(proxy().host, undefined), async (client) => {
      const source = new RemoteImage(client, Reference.parse(`${proxy().host}/cnb/run:latest`));
      return pushImage(client, source, [targetRef]).then(
        () => undefined,
        (e: unknown) => e,
      );
    });
    expect(err).toBeInstanceOf(DigestMismatchError);
    expect((err as Error).message).toMatch(new RegExp(`^blob ${big.digest} failed verification`));
    // the upload is not restarted for a source that failed verification: one download
    expect(proxy().count({ method: "GET", path: new RegExp(`/blobs/${big.digest}$`) })).toBe(1);
    await withClient(clientFor(target().host, undefined), async (client) => {
      const repo = client.repository(targetRef);
      expect(await headBlob(repo, big.digest)).toBeUndefined();
      expect(await checkReadAccess(client, targetRef)).toMatchObject({ ok: false, status: 404 });
    });
  });
});
