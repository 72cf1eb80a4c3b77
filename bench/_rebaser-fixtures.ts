// Fixture images of the rebaser benchmark: a run image v1 (umoci, three layers of generated data),
// v2 with only the top layer changed, and app images (v1 + generated app layers + the lifecycle
// metadata label + CNB_PLATFORM_API), pushed straight to the registry (not through the proxy).
import { createCipheriv, createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, rename, stat } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import tar from "tar-stream";
import { FileLayer } from "../src/image/file-layer.js";
import { LayoutImage } from "../src/image/layout-image.js";
import { MutableImage } from "../src/image/mutable-image.js";
import { pushImage } from "../src/image/registry-writer.js";
import { RegistryClient } from "../src/registry/client.js";
import { anonymousKeychain } from "../src/registry/keychain.js";
import { Reference } from "../src/registry/reference.js";
import { busyboxLayer, userLayer, type LayerSpec } from "../test/harness/fixtures/layer-files.js";
import { buildRunImage, type BuiltImage } from "../test/harness/fixtures/run-image.js";
import { pushImage as skopeoPush } from "../test/harness/fixtures/push-image.js";
import type { RegistryEndpoint } from "../test/harness/registry/registry-kind.js";
import { MediaType } from "../src/oci/media-types.js";
import { NORMALIZED_TIME } from "../src/oci/normalized-time.js";

const MiB = 1024 * 1024;
const LABEL = "io.buildpacks.lifecycle.metadata";


/** The run image in both versions, as pushed. */
export interface RunImages {
  readonly v1: BuiltImage;
  /** Blob digests of v1's layers, bottom first. */
  readonly v1Layers: readonly string[];
  readonly v1TopDiffId: string;
  readonly v1Digest: string;
  /** Blob digests of v2's layers, bottom first (all but the top are v1's). */
  readonly v2Layers: readonly string[];
  readonly v2TopDiffId: string;
  readonly v2Digest: string;
}

async function* hashing(source: AsyncIterable<Buffer>, hash: ReturnType<typeof createHash>): AsyncGenerator<Buffer> {
  for await (const chunk of source) {
    hash.update(chunk);
    yield chunk;
  }
}

/**
 * Writes a gzip layer blob holding one file of `bytes` incompressible bytes (AES-256-CTR keystream
 * of `seed`) at `path`, streamed; returns it as a FileLayer.
 */
export async function generatedLayer(dir: string, name: string, path: string, bytes: number, seed: string): Promise<FileLayer> {
  await mkdir(dir, { recursive: true });
  const pack = tar.pack();
  const diffId = createHash("sha256");
  const digest = createHash("sha256");
  const file = join(dir, `${name}.tar.gz`);
  const tmp = `${file}.tmp`;
  const done = pipeline(
    Readable.from(pack as AsyncIterable<Buffer>),
    (source: AsyncIterable<Buffer>) => hashing(source, diffId),
    createGzip({ level: 1 }),
    (source: AsyncIterable<Buffer>) => hashing(source, digest),
    createWriteStream(tmp),
  );
  const entry = pack.entry({ name: path, size: bytes, mode: 0o644, mtime: new Date(NORMALIZED_TIME), uid: 0, gid: 0 });
  const cipher = createCipheriv("aes-256-ctr", createHash("sha256").update(seed).digest(), Buffer.alloc(16));
  const zeros = Buffer.alloc(MiB);
  for (let left = bytes; left > 0; left -= zeros.length) {
    if (!entry.write(cipher.update(zeros.subarray(0, Math.min(left, zeros.length))))) {
      await new Promise<void>((resolve) => entry.once("drain", () => resolve()));
    }
  }
  entry.end(undefined);
  pack.finalize();
  await done;
  await rename(tmp, file);
  const { size } = await stat(file);
  return new FileLayer(file, `sha256:${digest.digest("hex")}`, `sha256:${diffId.digest("hex")}`, size, MediaType.OciLayerGzip);
}

/** A registry client for fixture pushes (anonymous: the bench registry is plain). */
function fixtureClient(): RegistryClient {
  return new RegistryClient({ keychain: anonymousKeychain });
}

async function pushWith(image: MutableImage, refs: readonly string[]): Promise<string> {
  const client = fixtureClient();
  try {
    return (await pushImage(client, image, refs.map((r) => Reference.parse(r)))).digest;
  } finally {
    await client.close();
  }
}

/**
 * Builds run image v1 (busybox + users + one generated file per layer, `layerMiB` each) with umoci
 * and pushes it as `acme/run:1`; then v2 (v1 with a new generated top layer and a
 * `io.buildpacks.base.released=v2` label) as `acme/run:2` and `acme/run:latest`.
 */
export async function pushRunImages(work: string, registry: RegistryEndpoint, layerMiB: number): Promise<RunImages> {
  const data = (i: number, version: string) => ({ path: `opt/base/layer-${i}.bin`, size: layerMiB * MiB, seed: `run-${version}-${i}` });
  const layers: LayerSpec[] = [
    { createdBy: "bench: busybox", files: [...busyboxLayer().files, data(0, "v1")] },
    { createdBy: "bench: users", files: [...userLayer().files, data(1, "v1")] },
    { createdBy: "bench: top v1", files: [{ path: "etc/base-version", content: "v1\n" }, data(2, "v1")] },
  ];
  const v1 = await buildRunImage(join(work, "run-layout"), { distro: { name: "ubuntu", version: "22.04" }, layers }, "v1");
  const v1Digest = await skopeoPush(v1, registry, "acme/run:1");

  const v2 = await MutableImage.from(new LayoutImage(v1.layoutDir, { refName: v1.tag }));
  const top = await generatedLayer(join(work, "run-v2"), "top", "/opt/base/layer-2.bin", layerMiB * MiB, "run-v2-2");
  v2.setLayers([...v2.layerList.slice(0, -1), top]);
  const history = v2.editableConfig.history ?? [];
  const last = history.findLastIndex((h) => !h.empty_layer);
  if (last >= 0) history[last] = { created: NORMALIZED_TIME, created_by: "bench: top v2" };
  v2.setLabel("io.buildpacks.base.released", "v2");
  const v2Digest = await pushWith(v2, [`${registry.host}/acme/run:2`, `${registry.host}/acme/run:latest`]);

  const v1DiffIds = v1.config.rootfs.diff_ids;
  return {
    v1,
    v1Layers: v1.manifest.layers.map((l) => l.digest),
    v1TopDiffId: v1DiffIds[v1DiffIds.length - 1] ?? "",
    v1Digest,
    v2Layers: v2.layerList.map((l) => l.digest),
    v2TopDiffId: top.diffId,
    v2Digest,
  };
}

/** The `io.buildpacks.lifecycle.metadata` label of an app built on run v1, naming `runImageName`. */
export function lifecycleLabel(run: RunImages, runImageName: string, appLayers: readonly FileLayer[]): string {
  const repo = runImageName.replace(/:[^:/]+$/, "");
  return JSON.stringify({
    app: appLayers.map((l) => ({ sha: l.digest })),
    buildpacks: [],
    config: { sha: "" },
    launcher: { sha: "" },
    "process-types": { sha: "" },
    runImage: { topLayer: run.v1TopDiffId, reference: `${repo}@${run.v1Digest}`, image: runImageName },
    stack: { runImage: { image: runImageName } },
  });
}

/**
 * Pushes an app image to `registry` as `reference` (`repo:tag`): run v1 + the app layers, the
 * lifecycle label naming `runImageName`, and `CNB_PLATFORM_API=0.14`. Returns the manifest digest.
 */
export async function pushAppImage(
  run: RunImages,
  appLayers: readonly FileLayer[],
  registry: RegistryEndpoint,
  reference: string,
  runImageName: string,
): Promise<string> {
  const image = await MutableImage.from(new LayoutImage(run.v1.layoutDir, { refName: run.v1.tag }));
  for (const [i, layer] of appLayers.entries()) image.addLayer(layer, { created: NORMALIZED_TIME, created_by: `bench: app layer ${i}` });
  image.setLabel(LABEL, lifecycleLabel(run, runImageName, appLayers));
  image.setEnv("CNB_PLATFORM_API", "0.14");
  return pushWith(image, [`${registry.host}/${reference}`]);
}
