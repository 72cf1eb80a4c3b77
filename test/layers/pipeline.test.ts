import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  EMPTY_LAYER_DIFF_ID,
  buildLayerBlob,
  createLimiter,
  diffIdOf,
  directoryLayerSource,
  emptyLayerSource,
  writeLayerTar,
} from "../../src/layers/index.js";
import type { LayerSource, TarEntry } from "../../src/layers/index.js";
import { tarBytes } from "./tar-read.js";

const sha256 = (b: Buffer): string => `sha256:${createHash("sha256").update(b).digest("hex")}`;

let base: string;
let layerDir: string;
let out: string;
beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), "pipeline-test-"));
  layerDir = join(base, "layers", "bp", "layer");
  out = join(base, "out");
  await mkdir(join(layerDir, "lib"), { recursive: true });
  await mkdir(out);
  await writeFile(join(layerDir, "lib", "big.txt"), Buffer.from("The quick brown fox jumps over the lazy dog. ".repeat(60_000)));
  await writeFile(join(layerDir, "small.json"), JSON.stringify({ hello: "world" }));
});
afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

describe("layer pipeline", () => {
  it("builds a blob in one pass whose diffID matches diffIdOf and whose gzip inflates to the tar", async () => {
    const src = directoryLayerSource(layerDir, { uid: 1000, gid: 1000 });
    const tar = await tarBytes(src);
    const blob = await buildLayerBlob(src, out);
    const gz = await readFile(blob.path);
    expect(blob.diffId).toBe(sha256(tar));
    expect(await diffIdOf(src)).toEqual({ diffId: blob.diffId, size: tar.length });
    expect(blob.uncompressedSize).toBe(tar.length);
    expect(blob.size).toBe(gz.length);
    expect(blob.digest).toBe(sha256(gz));
    expect(gunzipSync(gz).equals(tar)).toBe(true);
    expect(gz.length).toBeLessThan(tar.length / 10);
  });

  it("writes a deterministic gzip header (no name, mtime 0, level-1 flag, OS 255 like Go) and repeatable digests", async () => {
    const src = directoryLayerSource(layerDir, { uid: 1000, gid: 1000 });
    const a = await buildLayerBlob(src, out);
    const b = await buildLayerBlob(src, out);
    expect(b.digest).toBe(a.digest);
    expect(b.path).not.toBe(a.path);
    const header = (await readFile(a.path)).subarray(0, 10);
    expect(header.toString("hex")).toBe("1f8b08000000000004ff");
    const l6 = await buildLayerBlob(src, out, { level: 6 });
    expect(l6.diffId).toBe(a.diffId);
    expect((await readFile(l6.path)).subarray(0, 10).toString("hex")).toBe("1f8b08000000000000ff");
  });

  it("offers single-stream zlib compression with the same header rules (zlib's OS byte replaced)", async () => {
    const src = directoryLayerSource(layerDir, { uid: 1000, gid: 1000 });
    const s1 = await buildLayerBlob(src, out, { compression: "stream" });
    const s2 = await buildLayerBlob(src, out, { compression: "stream" });
    const gz = await readFile(s1.path);
    expect(s2.digest).toBe(s1.digest);
    expect(s1.digest).toBe(sha256(gz));
    expect(gz.subarray(0, 10).toString("hex")).toBe("1f8b08000000000004ff");
    expect(gunzipSync(gz).equals(await tarBytes(src))).toBe(true);
    expect(s1.diffId).toBe((await diffIdOf(src)).diffId);
  });

  it("tees the uncompressed tar to a second file in the same pass, and writeLayerTar matches it", async () => {
    const src = directoryLayerSource(layerDir, { uid: 0, gid: 0 });
    const teePath = join(out, "tee.tar");
    const blob = await buildLayerBlob(src, out, { uncompressedPath: teePath });
    expect(blob.uncompressedPath).toBe(teePath);
    const teed = await readFile(teePath);
    expect(sha256(teed)).toBe(blob.diffId);
    const written = await writeLayerTar(src, join(out, "plain.tar"));
    expect(written.diffId).toBe(blob.diffId);
    expect(written.size).toBe(teed.length);
  });

  it("handles the empty layer", async () => {
    const blob = await buildLayerBlob(emptyLayerSource(), out);
    expect(blob.diffId).toBe(EMPTY_LAYER_DIFF_ID);
    expect(blob.uncompressedSize).toBe(1024);
    expect(gunzipSync(await readFile(blob.path)).equals(Buffer.alloc(1024))).toBe(true);
  });

  it("removes its temp files when the source fails midway", async () => {
    const failDir = join(base, "fail-out");
    await mkdir(failDir);
    const failing: LayerSource = {
      async *entries(): AsyncGenerator<TarEntry, void, undefined> {
        yield { name: "/a", type: "file", mode: 0o644, uid: 0, gid: 0, content: Buffer.alloc(3 << 20, 1) };
        await Promise.resolve();
        throw new Error("boom");
      },
    };
    await expect(buildLayerBlob(failing, failDir, { uncompressedPath: join(failDir, "x.tar") })).rejects.toThrow("boom");
    expect(await readdir(failDir)).toEqual([]);
    await expect(writeLayerTar(failing, join(failDir, "y.tar"))).rejects.toThrow("boom");
    expect(await readdir(failDir)).toEqual([]);
  });

  it("stops and cleans up when aborted", async () => {
    const abortDir = join(base, "abort-out");
    await mkdir(abortDir);
    const controller = new AbortController();
    const slow: LayerSource = {
      async *entries(): AsyncGenerator<TarEntry, void, undefined> {
        for (let i = 0; ; i++) {
          yield { name: `/f${i}`, type: "file", mode: 0o644, uid: 0, gid: 0, content: Buffer.alloc(1 << 20, i) };
          if (i === 3) controller.abort();
          await new Promise((r) => setImmediate(r));
        }
      },
    };
    await expect(buildLayerBlob(slow, abortDir, { signal: controller.signal })).rejects.toThrow(/abort/i);
    expect(await readdir(abortDir)).toEqual([]);
  });

  it("keeps the event loop responsive while tarring thousands of small files", async () => {
    const many = join(base, "many");
    for (let d = 0; d < 30; d++) {
      await mkdir(join(many, `d${d}`), { recursive: true });
      await Promise.all(Array.from({ length: 100 }, (_, f) => writeFile(join(many, `d${d}`, `f${f}.txt`), `file ${d}/${f}\n`.repeat(50))));
    }
    const histogram = monitorEventLoopDelay({ resolution: 1 });
    histogram.enable();
    const { size } = await diffIdOf(directoryLayerSource(many, { uid: 1, gid: 1 }));
    histogram.disable();
    expect(size).toBeGreaterThan(3000 * 512);
    expect(histogram.max / 1e6).toBeLessThan(50);
  });

  it("writes many-block tars concurrently, each file hashing to its diffID, the arena whole afterwards", async () => {
    const sources = [1, 2, 3, 4].map((n): LayerSource => ({
      async *entries(): AsyncGenerator<TarEntry, void, undefined> {
        await Promise.resolve();
        yield { name: `/big-${n}`, type: "file", mode: 0o644, uid: 0, gid: 0, content: Buffer.alloc((3 << 20) + n * 4099, n) };
        yield { name: `/small-${n}`, type: "file", mode: 0o644, uid: 0, gid: 0, content: Buffer.from(`layer ${n}\n`) };
      },
    }));
    const written = await Promise.all(sources.map((src, i) => writeLayerTar(src, join(out, `many-${i}.tar`))));
    for (const [i, w] of written.entries()) {
      const bytes = await readFile(join(out, `many-${i}.tar`));
      expect(bytes.length).toBe(w.size);
      expect(sha256(bytes)).toBe(w.diffId);
      expect(w.diffId).toBe((await diffIdOf(sources[i] as LayerSource)).diffId);
    }
  });

  it("runs concurrent builds under a limiter without exceeding it, with the same results", async () => {
    const limiter = createLimiter(2);
    let active = 0;
    let peak = 0;
    const src = directoryLayerSource(layerDir, { uid: 7, gid: 7 });
    const tracked: LayerSource = {
      async *entries() {
        active++;
        peak = Math.max(peak, active);
        try {
          yield* src.entries();
          await new Promise((r) => setTimeout(r, 5));
        } finally {
          active--;
        }
      },
    };
    const blobs = await Promise.all(Array.from({ length: 5 }, () => buildLayerBlob(tracked, out, { limiter })));
    expect(peak).toBeLessThanOrEqual(2);
    expect(new Set(blobs.map((b) => b.digest)).size).toBe(1);
    expect(limiter.max).toBe(2);
  });
});
