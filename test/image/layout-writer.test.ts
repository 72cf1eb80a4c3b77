import { cp, lstat, mkdir, readdir, readFile, readlink, stat, truncate, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { Readable } from "node:stream";
import { setTimeout as delay } from "node:timers/promises";
import { gzipSync } from "node:zlib";
import { pack } from "tar-stream";
import { beforeAll, describe, expect, it } from "vitest";
import { blobPath } from "../../src/image/layout-blobs.js";
import { LayoutImage, REF_NAME_ANNOTATION } from "../../src/image/layout-image.js";
import { writeLayoutImage } from "../../src/image/layout-writer.js";
import { IndexSchema, ManifestSchema, type Image, type Layer } from "../../src/image/types.js";
import { runTool } from "../harness/process/run-tool.js";
import { useTempDir } from "../harness/vitest/use-temp-dir.js";
import { MediaType } from "../../src/oci/media-types.js";
import { DigestMismatchError, sha256Digest } from "../../src/oci/digest.js";

const temp = useTempDir("layout-writer");
let counter = 0;
const fresh = (name: string): string => join(temp(), `${name}-${++counter}`);

/** Builds a layout with umoci: tag `latest` (amd64, labelled) and tag `arm` (arm64). */
async function buildUmociLayout(root: string): Promise<string> {
  const rootfs = join(root, "rootfs");
  await mkdir(join(rootfs, "etc"), { recursive: true });
  await mkdir(join(rootfs, "bin"), { recursive: true });
  await writeFile(join(rootfs, "etc", "motd"), "hi\n");
  await writeFile(join(rootfs, "bin", "run.sh"), "#!/bin/sh\nexit 0\n", { mode: 0o755 });
  await writeFile(join(rootfs, "bin", "blob.bin"), Buffer.alloc(256 * 1024, "abcdefgh"));
  const layout = join(root, "layout");
  await runTool("umoci", ["init", "--layout", layout]);
  await runTool("umoci", ["new", "--image", `${layout}:latest`]);
  await runTool("umoci", ["insert", "--image", `${layout}:latest`, rootfs, "/"]);
  await runTool("umoci", ["config", "--image", `${layout}:latest`, "--os", "linux", "--architecture", "amd64", "--config.label", "io.buildpacks.base.id=test"]);
  await runTool("umoci", ["config", "--image", `${layout}:latest`, "--tag", "arm", "--architecture", "arm64"]);
  return layout;
}

async function readAll(stream: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

/** Every entry under a directory: path → mode and content hash (or link target). */
async function tree(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (dir: string): Promise<void> => {
    for (const name of (await readdir(dir)).sort()) {
      const path = join(dir, name);
      const st = await lstat(path);
      const key = relative(root, path);
      if (st.isDirectory()) {
        out[key] = `dir ${st.mode.toString(8)}`;
        await walk(path);
      } else if (st.isSymbolicLink()) out[key] = `link ${await readlink(path)}`;
      else out[key] = `file ${st.mode.toString(8)} ${sha256Digest(await readFile(path))}`;
    }
  };
  await walk(root);
  return out;
}

async function unpack(layout: string, ref: string): Promise<Record<string, string>> {
  const bundle = fresh("bundle");
  await runTool("umoci", ["unpack", "--image", `${layout}:${ref}`, bundle]);
  return tree(join(bundle, "rootfs"));
}

interface SkopeoInspect {
  Digest: string;
  Layers: string[];
  Architecture: string;
  Os: string;
  Labels: Record<string, string> | null;
}

async function skopeoInspect(layout: string, ref: string): Promise<SkopeoInspect> {
  return JSON.parse((await runTool("skopeo", ["inspect", `oci:${layout}:${ref}`])).stdout) as SkopeoInspect;
}

async function indexOf(layout: string): Promise<ReturnType<typeof IndexSchema.parse>> {
  return IndexSchema.parse(JSON.parse(await readFile(join(layout, "index.json"), "utf8")));
}

async function blobDirIsClean(layout: string): Promise<void> {
  for (const name of await readdir(join(layout, "blobs", "sha256"))) {
    expect(name).toMatch(/^[a-f0-9]{64}$/);
    expect(sha256Digest(await readFile(join(layout, "blobs", "sha256", name)))).toBe(`sha256:${name}`);
  }
}

/** An in-memory layer; `open()` counts calls and tracks concurrent readers, optionally slowly. */
class MemoryLayer implements Layer {
  readonly digest: string;
  readonly diffId: string;
  readonly size: number;
  readonly mediaType = MediaType.OciLayerGzip;
  opens = 0;
  constructor(
    private readonly tar: Buffer,
    private readonly stored = gzipSync(tar),
    private readonly hooks: { served?: Buffer; slow?: boolean; inflight?: { now: number; max: number } } = {},
  ) {
    this.digest = sha256Digest(stored);
    this.diffId = sha256Digest(tar);
    this.size = stored.length;
  }
  open(): Promise<Readable> {
    this.opens++;
    const bytes = this.hooks.served ?? this.stored;
    const { slow, inflight } = this.hooks;
    if (inflight) inflight.max = Math.max(inflight.max, ++inflight.now);
    const stream = Readable.from(
      (async function* () {
        for (let i = 0; i < bytes.length; i += 64) {
          if (slow) await delay(5);
          yield bytes.subarray(i, i + 64);
        }
      })(),
    );
    stream.once("close", () => inflight && inflight.now--);
    return Promise.resolve(stream);
  }
  uncompressed(): Promise<Readable> {
    return Promise.resolve(Readable.from([this.tar]));
  }
}

async function tarOf(files: Record<string, string>): Promise<Buffer> {
  const p = pack();
  for (const [name, content] of Object.entries(files)) p.entry({ name, mode: 0o644, mtime: new Date(0) }, content);
  p.finalize();
  return readAll(p);
}

/** An image built in memory from layers: exact config and manifest bytes. */
function memoryImage(layers: MemoryLayer[], arch = "amd64"): Image {
  const configRaw = Buffer.from(
    JSON.stringify({
      architecture: arch,
      os: "linux",
      config: { Labels: { "io.buildpacks.stack.id": "memory" } },
      rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
    }),
  );
  const manifestRaw = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciConfig, digest: sha256Digest(configRaw), size: configRaw.length },
      layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
    }),
  );
  const manifest = { manifest: ManifestSchema.parse(JSON.parse(manifestRaw.toString())), raw: manifestRaw, digest: sha256Digest(manifestRaw), mediaType: MediaType.OciManifest };
  const config = { config: { rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) } }, raw: configRaw, digest: sha256Digest(configRaw) };
  return { manifest: () => Promise.resolve(manifest), config: () => Promise.resolve(config), layers: () => Promise.resolve(layers) };
}

let source: string;
beforeAll(async () => {
  source = await buildUmociLayout(temp());
});

describe("writeLayoutImage", () => {
  it("copies a umoci image so that skopeo and umoci see the same image", async () => {
    const image = new LayoutImage(source, { refName: "latest" });
    const dest = fresh("copy");
    const written = await writeLayoutImage(image, dest, { refName: "app" });
    const { digest, raw } = await image.manifest();
    expect(written).toEqual({ digest, size: raw.length, mediaType: MediaType.OciManifest });
    expect(JSON.parse(await readFile(join(dest, "oci-layout"), "utf8"))).toEqual({ imageLayoutVersion: "1.0.0" });
    expect((await indexOf(dest)).manifests).toEqual([
      { mediaType: MediaType.OciManifest, digest, size: raw.length, annotations: { [REF_NAME_ANNOTATION]: "app" } },
    ]);
    const inspected = await skopeoInspect(dest, "app");
    expect(inspected.Digest).toBe(digest);
    expect(inspected.Layers).toEqual((await image.layers()).map((l) => l.digest));
    expect(inspected.Labels).toMatchObject({ "io.buildpacks.base.id": "test" });
    const copied = await unpack(dest, "app");
    expect(copied["etc/motd"]).toBe(`file 100644 ${sha256Digest("hi\n")}`);
    expect(copied).toEqual(await unpack(source, "latest"));
    await blobDirIsClean(dest);
  });

  it("replaces the entry with the same ref name and keeps the others", async () => {
    const dest = fresh("replace");
    const amd = new LayoutImage(source, { refName: "latest" });
    const arm = new LayoutImage(source, { refName: "arm" });
    await writeLayoutImage(amd, dest, { refName: "other" });
    await writeLayoutImage(amd, dest, { refName: "app" });
    const second = await writeLayoutImage(arm, dest, { refName: "app" });
    await writeLayoutImage(arm, dest);
    await writeLayoutImage(arm, dest);
    const index = await indexOf(dest);
    expect(index.mediaType).toBe(MediaType.OciIndex);
    const byName = index.manifests.map((m) => [m.annotations?.[REF_NAME_ANNOTATION], m.digest, m.mediaType]);
    expect(byName).toEqual([
      ["other", (await amd.manifest()).digest, MediaType.OciManifest],
      ["app", second.digest, MediaType.OciManifest],
      [undefined, second.digest, MediaType.OciManifest],
    ]);
    expect((await skopeoInspect(dest, "app")).Architecture).toBe("arm64");
    expect((await skopeoInspect(dest, "other")).Architecture).toBe("amd64");
    expect((await new LayoutImage(dest, { refName: "app" }).config()).config.architecture).toBe("arm64");
  });

  it("writes an in-memory image that umoci unpacks and LayoutImage reads back byte for byte", async () => {
    const layers = [new MemoryLayer(await tarOf({ "hello.txt": "hello\n" })), new MemoryLayer(await tarOf({ "app/main.txt": "main\n" }))];
    const image = memoryImage(layers);
    const dest = fresh("memory");
    const written = await writeLayoutImage(image, dest, { refName: "mem" });
    expect(written.digest).toBe((await image.manifest()).digest);
    const files = await unpack(dest, "mem");
    expect(files["hello.txt"]).toBe(`file 100644 ${sha256Digest("hello\n")}`);
    expect(files["app/main.txt"]).toBe(`file 100644 ${sha256Digest("main\n")}`);
    expect((await skopeoInspect(dest, "mem")).Labels).toEqual({ "io.buildpacks.stack.id": "memory" });
    const back = new LayoutImage(dest, { refName: "mem" });
    expect((await back.config()).raw.equals((await image.config()).raw)).toBe(true);
    expect((await back.manifest()).raw.equals((await image.manifest()).raw)).toBe(true);
    await blobDirIsClean(dest);
  });

  it("skips blobs already present with the right size and rewrites a truncated one", async () => {
    const layers = [new MemoryLayer(await tarOf({ a: "a" })), new MemoryLayer(await tarOf({ b: "b" }))];
    const dest = fresh("skip");
    await writeLayoutImage(memoryImage(layers), dest, { refName: "x" });
    expect(layers.map((l) => l.opens)).toEqual([1, 1]);
    const before = (await stat(blobPath(dest, layers[0]?.digest ?? ""))).mtimeMs;
    await writeLayoutImage(memoryImage(layers), dest, { refName: "x" });
    expect(layers.map((l) => l.opens)).toEqual([1, 1]);
    expect((await stat(blobPath(dest, layers[0]?.digest ?? ""))).mtimeMs).toBe(before);
    await truncate(blobPath(dest, layers[1]?.digest ?? ""), 10);
    await writeLayoutImage(memoryImage(layers), dest, { refName: "x" });
    expect(layers.map((l) => l.opens)).toEqual([1, 2]);
    await blobDirIsClean(dest);
  });

  it("refuses a layer whose bytes do not match its digest and leaves no blob or index entry", async () => {
    const good = new MemoryLayer(await tarOf({ ok: "ok" }));
    const tar = await tarOf({ bad: "bad" });
    const served = gzipSync(tar);
    served.writeUInt8(served.readUInt8(served.length - 5) ^ 0xff, served.length - 5);
    const bad = new MemoryLayer(tar, gzipSync(tar), { served });
    const dest = fresh("corrupt");
    await expect(writeLayoutImage(memoryImage([good, bad]), dest, { refName: "x" })).rejects.toBeInstanceOf(DigestMismatchError);
    await expect(stat(blobPath(dest, bad.digest))).rejects.toThrow(/ENOENT/);
    await expect(stat(join(dest, "index.json"))).rejects.toThrow(/ENOENT/);
    await blobDirIsClean(dest);

    const corruptSource = fresh("corrupt-source");
    await cp(source, corruptSource, { recursive: true });
    const [layer] = await new LayoutImage(corruptSource, { refName: "latest" }).layers();
    const file = blobPath(corruptSource, layer?.digest ?? "");
    const bytes = await readFile(file);
    bytes.writeUInt8(bytes.readUInt8(100) ^ 0x01, 100);
    await writeFile(file, bytes);
    const dest2 = fresh("corrupt-copy");
    await expect(writeLayoutImage(new LayoutImage(corruptSource, { refName: "latest" }), dest2)).rejects.toBeInstanceOf(DigestMismatchError);
    await blobDirIsClean(dest2);
  });

  it("copies at most three layers at once", async () => {
    const inflight = { now: 0, max: 0 };
    const layers = await Promise.all(
      Array.from({ length: 7 }, async (_, i) => {
        const tar = await tarOf({ [`f${i}`]: `${i}`.repeat(2000) });
        return new MemoryLayer(tar, gzipSync(tar, { level: 0 }), { slow: true, inflight });
      }),
    );
    const dest = fresh("concurrency");
    await writeLayoutImage(memoryImage(layers), dest, { refName: "x" });
    expect(inflight.max).toBe(3);
    expect(layers.every((l) => l.opens === 1)).toBe(true);
    await blobDirIsClean(dest);
  });

  it("writes a sparse layout without layer blobs when asked", async () => {
    const layers = [new MemoryLayer(await tarOf({ s: "s" }))];
    const dest = fresh("sparse");
    await writeLayoutImage(memoryImage(layers, "arm64"), dest, { refName: "base", sparse: true });
    expect(layers[0]?.opens).toBe(0);
    const image = new LayoutImage(dest, { refName: "base" });
    expect((await image.config()).config.architecture).toBe("arm64");
    expect(await image.hasBlob(layers[0]?.digest ?? "")).toBe(false);
  });
});
