import { createHash, randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import tar from "tar-stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CACHE_METADATA_FILE, CacheReadError, VolumeCache } from "../../src/cache/volume-cache.js";
import { extractLayer } from "../../src/layers/extract.js";

const sha256 = (data: Buffer): string => `sha256:${createHash("sha256").update(data).digest("hex")}`;

let base: string;
let cacheDir: string;

beforeEach(async () => {
  base = await mkdtemp(join(tmpdir(), "volume-cache-"));
  cacheDir = join(base, "cache");
  await mkdir(cacheDir);
});

afterEach(async () => {
  await rm(base, { recursive: true, force: true });
});

/** A layer "tar" (the cache never parses it) written to a temp file; returns its path, bytes and diffID. */
async function layerFile(name: string, size = 4096): Promise<{ path: string; data: Buffer; diffID: string }> {
  const data = randomBytes(size);
  const path = join(base, `${name}.tar`);
  await writeFile(path, data);
  return { path, data, diffID: sha256(data) };
}

const committed = (...parts: string[]): string => join(cacheDir, "committed", ...parts);

describe("VolumeCache.open", () => {
  it("fails when the directory does not exist, with Go's stat wording", async () => {
    const missing = join(base, "nope");
    await expect(VolumeCache.open(missing)).rejects.toThrow(`stat ${missing}: no such file or directory`);
  });

  it("recreates staging, drops a stale backup and creates committed", async () => {
    await mkdir(join(cacheDir, "staging"));
    await writeFile(join(cacheDir, "staging", "junk.tar"), "junk");
    await mkdir(join(cacheDir, "committed-backup"));
    const cache = await VolumeCache.open(cacheDir);
    expect(await readdir(cacheDir)).toEqual(["committed", "staging"]);
    expect(await readdir(join(cacheDir, "staging"))).toEqual([]);
    expect(await cache.exists()).toBe(true);
    expect(cache.name()).toBe(cacheDir);
  });
});

describe("VolumeCache metadata", () => {
  it("treats absent or unparseable metadata as empty", async () => {
    const cache = await VolumeCache.open(cacheDir);
    expect(await cache.retrieveMetadata()).toEqual({});
    await writeFile(committed(CACHE_METADATA_FILE), "{not json");
    expect(await cache.retrieveMetadata()).toEqual({});
    await writeFile(committed(CACHE_METADATA_FILE), '{"sbom":{"sha":""},"buildpacks":[]}\n');
    expect(await cache.retrieveMetadata()).toEqual({ sbom: { sha: "" }, buildpacks: [] });
  });

  it("writes metadata into staging with a trailing newline and refuses invalid JSON text", async () => {
    const cache = await VolumeCache.open(cacheDir);
    await cache.setMetadata('{"sbom":{"sha":""}}');
    expect(await readFile(join(cacheDir, "staging", CACHE_METADATA_FILE), "utf8")).toBe('{"sbom":{"sha":""}}\n');
    await cache.setMetadata({ buildpacks: [] });
    expect(await readFile(join(cacheDir, "staging", CACHE_METADATA_FILE), "utf8")).toBe('{"buildpacks":[]}\n');
    await expect(cache.setMetadata("{oops")).rejects.toThrow(/^marshalling metadata: /);
    expect(await readdir(join(cacheDir, "staging"))).toEqual([CACHE_METADATA_FILE]);
  });
});

describe("VolumeCache layers across builds", () => {
  it("keeps exactly the layers added or reused in the last build, plus the metadata", async () => {
    const a = await layerFile("a");
    const b = await layerFile("b");
    const c = await layerFile("c");

    const first = await VolumeCache.open(cacheDir);
    await first.addLayerFile(a.path, a.diffID);
    await first.addLayerStream(Readable.from([b.data.subarray(0, 100), b.data.subarray(100)]), b.diffID);
    await first.setMetadata({ build: 1 });
    await first.commit();
    expect((await readdir(committed())).sort()).toEqual([`${a.diffID}.tar`, `${b.diffID}.tar`, CACHE_METADATA_FILE].sort());
    expect(await readdir(cacheDir)).toEqual(["committed"]);
    const inodeA = (await stat(committed(`${a.diffID}.tar`))).ino;

    const second = await VolumeCache.open(cacheDir);
    expect(await second.retrieveMetadata()).toEqual({ build: 1 });
    await second.verifyLayer(a.diffID);
    await second.reuseLayer(a.diffID);
    await second.reuseLayer(a.diffID); // already staged: fine
    await second.addLayerFile(c.path, c.diffID);
    await second.setMetadata({ build: 2 });
    await second.commit();

    expect((await readdir(committed())).sort()).toEqual([`${a.diffID}.tar`, `${c.diffID}.tar`, CACHE_METADATA_FILE].sort());
    expect((await stat(committed(`${a.diffID}.tar`))).ino).toBe(inodeA); // reused by hard link, not copied
    expect(await readFile(committed(`${c.diffID}.tar`))).toEqual(c.data);
    expect(JSON.parse(await readFile(committed(CACHE_METADATA_FILE), "utf8"))).toEqual({ build: 2 });
  });

  it("does not rewrite a layer that is already staged", async () => {
    const a = await layerFile("a");
    const cache = await VolumeCache.open(cacheDir);
    await cache.addLayerFile(a.path, a.diffID);
    await writeFile(a.path, "changed afterwards");
    await cache.addLayerFile(a.path, a.diffID);
    expect(await readFile(join(cacheDir, "staging", `${a.diffID}.tar`))).toEqual(a.data);
  });

  it("copies, hard-links or moves the source file as asked", async () => {
    const cache = await VolumeCache.open(cacheDir);
    const staged = (f: { diffID: string }): string => join(cacheDir, "staging", `${f.diffID}.tar`);
    const copied = await layerFile("copied");
    await cache.addLayerFile(copied.path, copied.diffID, { transfer: "copy" });
    expect((await stat(staged(copied))).ino).not.toBe((await stat(copied.path)).ino);

    const linked = await layerFile("linked");
    await cache.addLayerFile(linked.path, linked.diffID, { transfer: "link" });
    expect((await stat(staged(linked))).ino).toBe((await stat(linked.path)).ino);

    const moved = await layerFile("moved");
    await cache.addLayerFile(moved.path, moved.diffID, { transfer: "move" });
    await expect(stat(moved.path)).rejects.toThrow(/ENOENT/);
    expect(await readFile(staged(moved))).toEqual(moved.data);
  });

  it("refuses a layer stream whose bytes do not match the diffID and keeps nothing", async () => {
    const a = await layerFile("a");
    const wrong = `sha256:${"1".repeat(64)}`;
    const cache = await VolumeCache.open(cacheDir);
    await expect(cache.addLayerStream(Readable.from([a.data]), wrong)).rejects.toThrow(
      `expected layer contents to have SHA '${wrong}'; found '${a.diffID}'`,
    );
    expect(await readdir(join(cacheDir, "staging"))).toEqual([]);
  });

  it("refuses malformed diffIDs instead of using them as file names", async () => {
    const a = await layerFile("a");
    const cache = await VolumeCache.open(cacheDir);
    await expect(cache.addLayerFile(a.path, "sha256:../../escape")).rejects.toThrow("invalid layer diffID");
    await expect(cache.verifyLayer("../x")).rejects.toBeInstanceOf(CacheReadError);
    expect(await readdir(base)).toEqual(["a.tar", "cache"]);
  });

  it("cannot be changed after commit", async () => {
    const a = await layerFile("a");
    const cache = await VolumeCache.open(cacheDir);
    await cache.commit();
    await expect(cache.addLayerFile(a.path, a.diffID)).rejects.toThrow("cache cannot be modified after commit");
    await expect(cache.commit()).rejects.toThrow("cache cannot be modified after commit");
  });
});

describe("VolumeCache read errors", () => {
  async function committedCache(): Promise<{ cache: VolumeCache; a: Awaited<ReturnType<typeof layerFile>> }> {
    const a = await layerFile("a");
    const writer = await VolumeCache.open(cacheDir);
    await writer.addLayerFile(a.path, a.diffID);
    await writer.commit();
    return { cache: await VolumeCache.open(cacheDir), a };
  }

  it("reports a tampered committed tar with the contract's message", async () => {
    const { cache, a } = await committedCache();
    const tampered = Buffer.from(a.data);
    tampered[0] = (tampered[0] ?? 0) ^ 0xff;
    await writeFile(committed(`${a.diffID}.tar`), tampered);
    const err = await cache.verifyLayer(a.diffID).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CacheReadError);
    expect((err as Error).message).toBe(
      `expected layer contents to have SHA '${a.diffID}'; found '${sha256(tampered)}'`,
    );
  });

  it("reports missing layers as read errors from verify, reuse, retrieve", async () => {
    const { cache } = await committedCache();
    const missing = `sha256:${"2".repeat(64)}`;
    const message = `failed to find cache layer with SHA '${missing}'`;
    for (const op of [
      () => cache.verifyLayer(missing),
      () => cache.reuseLayer(missing),
      () => cache.retrieveLayer(missing),
      () => cache.retrieveLayerFile(missing),
    ]) {
      const err = await op().then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(CacheReadError);
      expect((err as Error).message).toBe(message);
    }
    expect(await cache.hasLayer(missing)).toBe(false);
  });

  it("reports an unreadable layer file as a read error", async () => {
    const { cache } = await committedCache();
    const odd = `sha256:${"3".repeat(64)}`;
    await mkdir(committed(`${odd}.tar`)); // a directory where the tar should be: reading fails with EISDIR
    const err = await cache.verifyLayer(odd).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CacheReadError);
    expect((err as Error).message).toMatch(`SHA '${odd}'`);
  });
});

describe("VolumeCache with layer extraction", () => {
  it("restores a cached layer by streaming it into extractLayer with its diffID checked", async () => {
    const pack = tar.pack();
    for (const dir of ["/layers", "/layers/bp", "/layers/bp/deps"]) pack.entry({ name: dir, type: "directory", mode: 0o755 });
    pack.entry({ name: "/layers/bp/deps/lib.so", mode: 0o755 }, "ELF");
    pack.finalize();
    const chunks: Buffer[] = [];
    for await (const chunk of pack) chunks.push(chunk as Buffer);
    const data = Buffer.concat(chunks);
    const diffID = sha256(data);

    const writer = await VolumeCache.open(cacheDir);
    await writer.addLayerStream(Readable.from([data]), diffID);
    await writer.commit();

    const cache = await VolumeCache.open(cacheDir);
    await cache.verifyLayer(diffID);
    const root = join(base, "root");
    await mkdir(root);
    const result = await extractLayer(await cache.retrieveLayer(diffID), {
      root, allowedPrefix: "/layers/bp/deps", expectedDiffID: diffID,
    });
    expect(result.diffID).toBe(diffID);
    expect(await readFile(join(root, "layers/bp/deps/lib.so"), "utf8")).toBe("ELF");
  });
});
