// Interoperability with images skopeo pushed: Docker v2s2 and OCI manifests are read with their
// media types preserved (also when we push them on), and an image index resolves to the child
// manifest of the requested platform.
import { createHash } from "node:crypto";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { MutableImage } from "../../src/image/mutable-image.js";
import { pushImage } from "../../src/image/registry-writer.js";
import { RemoteImage } from "../../src/image/remote-image.js";
import { RegistryClient } from "../../src/registry/client.js";
import { anonymousKeychain } from "../../src/registry/keychain.js";
import { getManifest } from "../../src/registry/manifests.js";
import { Reference } from "../../src/registry/reference.js";
import type { RetryPolicy } from "../../src/registry/retry.js";
import {
  addImageIndex,
  buildRunImage,
  expectNoLeakedProcesses,
  readLayoutImage,
  pushImage as skopeoPush,
  skopeoInspectRaw,
  skopeoPushLayout,
  useRegistry,
  useTempDir,
  type BuiltImage,
} from "../harness/index.js";
import { MediaType } from "../../src/oci/media-types.js";

expectNoLeakedProcesses();
const temp = useTempDir("registry-interop");
const registry = useRegistry("plain");

const FAST: RetryPolicy = { attempts: 4, baseDelayMs: 20, maxDelayMs: 200, maxRetryAfterMs: 60_000 };

let fixture: BuiltImage;
let dockerDigest: string;
let ociDigest: string;

const sha256 = (data: Uint8Array | string): string => `sha256:${createHash("sha256").update(data).digest("hex")}`;

async function withClient<T>(fn: (client: RegistryClient) => Promise<T>): Promise<T> {
  const client = new RegistryClient({ keychain: anonymousKeychain, retry: FAST });
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

const remote = (client: RegistryClient, name: string, platform?: { os: string; architecture: string }): RemoteImage =>
  new RemoteImage(client, Reference.parse(`${registry().host}/${name}`), platform ? { platform } : {});

async function diffIdOf(stream: NodeJS.ReadableStream): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return `sha256:${hash.digest("hex")}`;
}

beforeAll(async () => {
  fixture = await buildRunImage(join(temp(), "layout"), { architecture: "amd64" });
  dockerDigest = await skopeoPush(fixture, registry(), "cnb/docker:latest", { format: "v2s2" });
  ociDigest = await skopeoPush(fixture, registry(), "cnb/oci:latest", { format: "oci" });
});

describe("media types", () => {
  it("reads a Docker v2s2 image pushed by skopeo with its Docker media types", async () => {
    await withClient(async (client) => {
      const image = remote(client, "cnb/docker:latest");
      const manifest = await image.manifest();
      expect(manifest.digest).toBe(dockerDigest);
      expect(manifest.digest).not.toBe(fixture.descriptor.digest);
      expect(manifest.mediaType).toBe(MediaType.DockerManifest);
      expect(manifest.manifest.config.mediaType).toBe(MediaType.DockerConfig);
      expect(manifest.manifest.layers.map((l) => l.mediaType)).toEqual(fixture.manifest.layers.map(() => MediaType.DockerLayerGzip));
      const layers = await image.layers();
      expect(layers.map((l) => l.mediaType)).toEqual(layers.map(() => MediaType.DockerLayerGzip));
      for (const layer of layers) expect(await diffIdOf(await layer.uncompressed())).toBe(layer.diffId);
      expect((await image.config()).config.rootfs.diff_ids).toEqual(fixture.config.rootfs.diff_ids);
    });
  });

  it("reads an OCI image pushed by skopeo with its OCI media types", async () => {
    await withClient(async (client) => {
      const image = remote(client, "cnb/oci:latest");
      const manifest = await image.manifest();
      expect(manifest.digest).toBe(ociDigest);
      expect(manifest.mediaType).toBe(MediaType.OciManifest);
      expect(manifest.manifest.config.mediaType).toBe(MediaType.OciConfig);
      expect(manifest.manifest.layers.map((l) => l.mediaType)).toEqual(fixture.manifest.layers.map(() => MediaType.OciLayerGzip));
      for (const layer of await image.layers()) expect(await diffIdOf(await layer.uncompressed())).toBe(layer.diffId);
    });
  });

  it("keeps a Docker image Docker when pushing it on (no mixed descriptors)", async () => {
    await withClient(async (client) => {
      const image = await MutableImage.from(remote(client, "cnb/docker:latest"));
      image.setLabel("io.test.family", "docker");
      const result = await pushImage(client, image, [Reference.parse(`${registry().host}/cnb/docker-copy:latest`)]);
      const raw = await skopeoInspectRaw(registry(), "cnb/docker-copy:latest");
      expect(sha256(raw.raw)).toBe(result.digest);
      expect(raw.mediaType).toBe(MediaType.DockerManifest);
      expect(raw.manifest?.config.mediaType).toBe(MediaType.DockerConfig);
      expect(raw.manifest?.layers.every((l) => l.mediaType === MediaType.DockerLayerGzip)).toBe(true);
      expect((await remote(client, "cnb/docker-copy:latest").manifest()).mediaType).toBe(MediaType.DockerManifest);
    });
  });
});

describe("image index", () => {
  let amd64: string;
  let arm64: string;
  let indexDigest: string;

  beforeAll(async () => {
    const layout = join(temp(), "multi");
    await buildRunImage(layout, { architecture: "amd64" }, "amd64");
    await buildRunImage(layout, { architecture: "arm64", variant: "v8" }, "arm64");
    amd64 = (await readLayoutImage(layout, "amd64")).descriptor.digest;
    arm64 = (await readLayoutImage(layout, "arm64")).descriptor.digest;
    await addImageIndex(layout, ["arm64", "amd64"], "multi");
    indexDigest = (await skopeoPushLayout(layout, "multi", registry(), "cnb/multi:latest", { all: true })).digest;
  });

  it("resolves the index to the linux/amd64 child manifest", async () => {
    await withClient(async (client) => {
      const index = await getManifest(client.repository(`${registry().host}/cnb/multi:latest`), "latest");
      expect(index.mediaType).toBe(MediaType.OciIndex);
      expect(index.digest).toBe(indexDigest);

      const image = remote(client, "cnb/multi:latest", { os: "linux", architecture: "amd64" });
      const manifest = await image.manifest();
      expect(manifest.digest).toBe(amd64);
      expect(manifest.mediaType).toBe(MediaType.OciManifest);
      expect((await image.config()).config.architecture).toBe("amd64");
      expect(await image.identifier()).toBe(`${registry().host}/cnb/multi@${amd64}`);
    });
  });

  it("resolves another platform's child when asked, and fails clearly for a platform the index lacks", async () => {
    await withClient(async (client) => {
      const arm = remote(client, "cnb/multi:latest", { os: "linux", architecture: "arm64" });
      expect((await arm.manifest()).digest).toBe(arm64);
      expect((await arm.config()).config.variant).toBe("v8");
      await expect(remote(client, "cnb/multi:latest", { os: "linux", architecture: "s390x" }).manifest()).rejects.toThrow(
        `image ${registry().host}/cnb/multi:latest has no manifest for platform linux/s390x`,
      );
    });
  });
});
