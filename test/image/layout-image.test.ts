import { createHash } from "node:crypto";
import { cp, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { extract } from "tar-stream";
import { beforeAll, describe, expect, it } from "vitest";
import { LayoutBlobNotFoundError, blobPath } from "../../src/image/layout-blobs.js";
import { LayoutImage, REF_NAME_ANNOTATION } from "../../src/image/layout-image.js";
import { formatLayoutIdentifier, layoutPathForReference, parseLayoutIdentifier } from "../../src/image/layout-path.js";
import { IndexSchema } from "../../src/image/types.js";
import { Reference } from "../../src/registry/reference.js";
import { runTool } from "../harness/process/run-tool.js";
import { useTempDir } from "../harness/vitest/use-temp-dir.js";
import { MediaType } from "../../src/oci/media-types.js";
import { DigestMismatchError, sha256Digest } from "../../src/oci/digest.js";

const temp = useTempDir("layout-image");

/** A 300 KiB file of pseudo-random bytes (more than one read chunk, not compressible away). */
const BIG = Buffer.concat(Array.from({ length: 300 }, (_, i) => createHash("sha256").update(`chunk ${i}`).digest()).map((h) => Buffer.alloc(1024, h)));

/** Builds a layout with umoci: tag `latest` (amd64, 2 layers, labels) and tag `arm` (same layers, arm64). */
async function buildUmociLayout(root: string): Promise<string> {
  const rootfs = join(root, "rootfs");
  await mkdir(join(rootfs, "etc"), { recursive: true });
  await mkdir(join(rootfs, "bin"), { recursive: true });
  await writeFile(join(rootfs, "etc", "motd"), "hi\n");
  await writeFile(join(rootfs, "bin", "hello.sh"), "#!/bin/sh\necho hello\n", { mode: 0o755 });
  await writeFile(join(rootfs, "bin", "big.bin"), BIG);
  const second = join(root, "second");
  await mkdir(join(second, "cnb"), { recursive: true });
  await writeFile(join(second, "cnb", "layer2.txt"), "second layer\n");
  const layout = join(root, "layout");
  await runTool("umoci", ["init", "--layout", layout]);
  await runTool("umoci", ["new", "--image", `${layout}:latest`]);
  await runTool("umoci", ["insert", "--image", `${layout}:latest`, rootfs, "/"]);
  await runTool("umoci", ["insert", "--image", `${layout}:latest`, second, "/"]);
  await runTool("umoci", [
    "config", "--image", `${layout}:latest`, "--os", "linux", "--architecture", "amd64",
    "--config.label", "io.buildpacks.base.id=test", "--config.label", "io.buildpacks.stack.id=test.stack",
  ]);
  await runTool("umoci", ["config", "--image", `${layout}:latest`, "--tag", "arm", "--architecture", "arm64"]);
  return layout;
}

async function readAll(stream: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

/**
 * Files of a tar stream. umoci 0.4.7 ends its layer tars right after the last file's bytes (no
 * padding, no end-of-archive blocks), which tar-stream rejects, so the tar is completed first.
 */
async function tarFiles(stream: Readable): Promise<Map<string, Buffer>> {
  const tar = await readAll(stream);
  const ex = extract();
  ex.end(Buffer.concat([tar, Buffer.alloc((512 - (tar.length % 512)) % 512 + 1024)]));
  const files = new Map<string, Buffer>();
  for await (const entry of ex) {
    const body = await readAll(entry);
    if (entry.header.type === "file") files.set(entry.header.name.replace(/^\.?\//, ""), body);
  }
  return files;
}

interface IndexEntry {
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

async function indexEntries(layout: string): Promise<IndexEntry[]> {
  return IndexSchema.parse(JSON.parse(await readFile(join(layout, "index.json"), "utf8"))).manifests;
}

async function entryFor(layout: string, ref: string): Promise<IndexEntry> {
  const entry = (await indexEntries(layout)).find((m) => m.annotations?.[REF_NAME_ANNOTATION] === ref);
  if (!entry) throw new Error(`no entry ${ref}`);
  return entry;
}

let layout: string;
beforeAll(async () => {
  layout = await buildUmociLayout(temp());
});

async function copyLayout(name: string): Promise<string> {
  const dest = join(temp(), name);
  await cp(layout, dest, { recursive: true });
  return dest;
}

describe("LayoutImage reads a umoci-built layout", () => {
  it("selects by ref name and exposes config, manifest without mediaType, and identifier", async () => {
    const image = new LayoutImage(layout, { refName: "latest" });
    const entry = await entryFor(layout, "latest");
    const { manifest, digest, mediaType, raw } = await image.manifest();
    expect(JSON.parse(raw.toString("utf8"))).not.toHaveProperty("mediaType");
    expect(digest).toBe(entry.digest);
    expect(sha256Digest(raw)).toBe(digest);
    expect(mediaType).toBe(MediaType.OciManifest);
    expect(manifest.layers).toHaveLength(2);
    const { config } = await image.config();
    expect(config.os).toBe("linux");
    expect(config.architecture).toBe("amd64");
    expect(config.config?.Labels).toMatchObject({ "io.buildpacks.base.id": "test", "io.buildpacks.stack.id": "test.stack" });
    expect(await image.exists()).toBe(true);
    expect(await image.identifier()).toBe(`${layout}@${entry.digest}`);
  });

  it("gives layers whose diffIDs hash their uncompressed tars and whose content is the rootfs", async () => {
    const image = new LayoutImage(layout, { refName: "latest" });
    const layers = await image.layers();
    const { config } = await image.config();
    expect(layers.map((l) => l.diffId)).toEqual(config.rootfs.diff_ids);
    expect(layers.every((l) => l.mediaType === MediaType.OciLayerGzip)).toBe(true);
    const [first, second] = layers;
    if (!first || !second) throw new Error("expected two layers");
    expect(sha256Digest(await readAll(await first.open()))).toBe(first.digest);
    expect(sha256Digest(await readAll(await first.uncompressed()))).toBe(first.diffId);
    const files = await tarFiles(await first.uncompressed());
    expect(files.get("etc/motd")?.toString()).toBe("hi\n");
    expect(files.get("bin/hello.sh")?.toString()).toBe("#!/bin/sh\necho hello\n");
    expect(files.get("bin/big.bin")?.equals(BIG)).toBe(true);
    expect((await tarFiles(await second.uncompressed())).get("cnb/layer2.txt")?.toString()).toBe("second layer\n");
  });

  it("selects by digest, by another ref name, and falls back to the first entry", async () => {
    const arm = await entryFor(layout, "arm");
    const byDigest = new LayoutImage(layout, { digest: arm.digest });
    expect((await byDigest.config()).config.architecture).toBe("arm64");
    const byName = new LayoutImage(layout, { refName: "arm" });
    expect((await byName.manifest()).digest).toBe(arm.digest);
    const first = (await indexEntries(layout))[0];
    expect((await new LayoutImage(layout).manifest()).digest).toBe(first?.digest);
    const fromId = LayoutImage.fromIdentifier(formatLayoutIdentifier(layout, arm.digest));
    expect(fromId.path).toBe(layout);
    expect((await fromId.manifest()).digest).toBe(arm.digest);
  });

  it("reports absent layouts, names and digests as not existing", async () => {
    expect(await new LayoutImage(join(temp(), "nowhere")).exists()).toBe(false);
    expect(await new LayoutImage(layout, { refName: "nope" }).exists()).toBe(false);
    expect(await new LayoutImage(layout, { digest: `sha256:${"0".repeat(64)}` }).exists()).toBe(false);
    await expect(new LayoutImage(layout, { refName: "nope" }).manifest()).rejects.toThrow(`image "nope" not found in OCI layout ${layout}`);
  });
});

describe("LayoutImage verifies blobs", () => {
  it("errors the layer stream when a byte of the blob is flipped", async () => {
    const copy = await copyLayout("corrupt-layer");
    const [layer] = await new LayoutImage(copy, { refName: "latest" }).layers();
    if (!layer) throw new Error("expected a layer");
    const file = blobPath(copy, layer.digest);
    const bytes = await readFile(file);
    const mid = Math.floor(bytes.length / 2);
    bytes.writeUInt8(bytes.readUInt8(mid) ^ 0xff, mid);
    await writeFile(file, bytes);
    await expect(readAll(await layer.open())).rejects.toBeInstanceOf(DigestMismatchError);
    await expect(readAll(await layer.open())).rejects.toThrow(`blob ${layer.digest} in OCI layout ${copy} failed verification`);
  });

  it("rejects a config with a flipped byte or an extra byte", async () => {
    const copy = await copyLayout("corrupt-config");
    const { manifest } = await new LayoutImage(copy, { refName: "latest" }).manifest();
    const file = blobPath(copy, manifest.config.digest);
    const original = await readFile(file);
    const flipped = Buffer.from(original);
    flipped.writeUInt8(flipped.readUInt8(10) ^ 0x01, 10);
    await writeFile(file, flipped);
    await expect(new LayoutImage(copy, { refName: "latest" }).config()).rejects.toBeInstanceOf(DigestMismatchError);
    await writeFile(file, Buffer.concat([original, Buffer.from(" ")]));
    await expect(new LayoutImage(copy, { refName: "latest" }).config()).rejects.toThrow(/is larger than its declared size/);
    await writeFile(file, original);
    expect((await new LayoutImage(copy, { refName: "latest" }).config()).config.os).toBe("linux");
  });

  it("names the blob and the layout when a blob is missing, while a sparse image still opens", async () => {
    const copy = await copyLayout("missing-blob");
    const image = new LayoutImage(copy, { refName: "latest" });
    const [layer] = await image.layers();
    if (!layer) throw new Error("expected a layer");
    await rm(blobPath(copy, layer.digest));
    const sparse = new LayoutImage(copy, { refName: "latest" });
    const [again] = await sparse.layers();
    expect(await again?.present()).toBe(false);
    expect(await sparse.hasBlob(layer.digest)).toBe(false);
    const err: unknown = await layer.open().then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(LayoutBlobNotFoundError);
    expect((err as Error).message).toContain(layer.digest);
    expect((err as Error).message).toContain(copy);
  });
});

describe("LayoutImage resolves a nested index", () => {
  it("picks the platform's manifest and identifies it by that manifest's digest", async () => {
    const copy = await copyLayout("nested");
    const amd = await entryFor(copy, "latest");
    const arm = await entryFor(copy, "arm");
    const nested = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.OciIndex,
        manifests: [
          { mediaType: MediaType.OciManifest, digest: amd.digest, size: amd.size, platform: { os: "linux", architecture: "amd64" } },
          { mediaType: MediaType.OciManifest, digest: arm.digest, size: arm.size, platform: { os: "linux", architecture: "arm64" } },
        ],
      }),
    );
    const indexDigest = sha256Digest(nested);
    await writeFile(blobPath(copy, indexDigest), nested);
    const top = { mediaType: MediaType.OciIndex, digest: indexDigest, size: nested.length, annotations: { [REF_NAME_ANNOTATION]: "multi" } };
    await writeFile(join(copy, "index.json"), JSON.stringify({ schemaVersion: 2, manifests: [top] }));

    const armImage = new LayoutImage(copy, { refName: "multi", platform: { os: "linux", architecture: "arm64" } });
    expect((await armImage.manifest()).digest).toBe(arm.digest);
    expect((await armImage.config()).config.architecture).toBe("arm64");
    expect(await armImage.identifier()).toBe(`${copy}@${arm.digest}`);
    const amdImage = new LayoutImage(copy, { platform: { os: "linux", architecture: "amd64" } });
    expect((await amdImage.manifest()).digest).toBe(amd.digest);
    const reopened = LayoutImage.fromIdentifier(await armImage.identifier());
    expect((await reopened.config()).config.architecture).toBe("arm64");
    await expect(new LayoutImage(copy, { platform: { os: "linux", architecture: "s390x" } }).manifest()).rejects.toThrow(
      /no manifest for platform linux\/s390x/,
    );
  });
});

describe("layout paths", () => {
  it("maps tag and digest references to the lifecycle's layout directories", () => {
    const digest = `sha256:${"ab".repeat(32)}`;
    expect(layoutPathForReference("/layout", "registry.example.com:5000/acme/app:v1")).toBe("/layout/registry.example.com:5000/acme/app/v1");
    expect(layoutPathForReference("/layout", Reference.parse("busybox"))).toBe("/layout/index.docker.io/library/busybox/latest");
    expect(layoutPathForReference("/layout", `acme/run@${digest}`)).toBe(`/layout/index.docker.io/acme/run/sha256/${"ab".repeat(32)}`);
  });

  it("splits <path>@sha256:<hex> and keeps other @ in paths", () => {
    const digest = `sha256:${"cd".repeat(32)}`;
    expect(parseLayoutIdentifier(`/layout/a@b/c@${digest}`)).toEqual({ path: "/layout/a@b/c", digest });
    expect(parseLayoutIdentifier("/layout/a@b/c")).toEqual({ path: "/layout/a@b/c" });
    expect(parseLayoutIdentifier(formatLayoutIdentifier("/x", digest))).toEqual({ path: "/x", digest });
    expect(() => formatLayoutIdentifier("/x", "sha256:short")).toThrow(/invalid digest/);
  });
});
