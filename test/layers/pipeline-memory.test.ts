import { mkdir, mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildLayerBlob, diffIdOf, directoryLayerSource } from "../../src/layers/index.js";

const MiB = 1 << 20;
const FILES = 4;
const FILE_MIB = 50; // 200 MiB layer

let base: string;
let layerDir: string;

/** Writes `mib` MiB of text-like, moderately compressible data without holding it in memory. */
async function writeTextFile(path: string, mib: number, seed: number): Promise<void> {
  const fh = await open(path, "w");
  try {
    const block = Buffer.alloc(MiB);
    for (let i = 0; i < mib; i++) {
      let off = 0;
      let n = seed * 7919 + i;
      while (off < MiB) {
        n = (n * 1103515245 + 12345) % 2 ** 31;
        off += block.write(`{"id":${n},"k":"v${n % 977}","t":${n % 86400}}\n`, off);
      }
      await fh.write(block);
    }
  } finally {
    await fh.close();
  }
}

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), "pipeline-memory-test-"));
  layerDir = join(base, "layers", "bp", "big");
  await mkdir(layerDir, { recursive: true });
  for (let i = 0; i < FILES; i++) await writeTextFile(join(layerDir, `part-${i}.json`), FILE_MIB, i + 1);
}, 120_000);

afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

/** Runs `task` while sampling RSS; returns the peak growth over the starting RSS. */
async function peakRssGrowth(task: () => Promise<unknown>): Promise<number> {
  const start = process.memoryUsage().rss;
  let peak = start;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 5);
  try {
    await task();
  } finally {
    clearInterval(timer);
  }
  return Math.max(peak, process.memoryUsage().rss) - start;
}

describe("layer pipeline memory", () => {
  it("builds a 200 MiB layer with RSS growth far below the layer size", async () => {
    const src = directoryLayerSource(layerDir, { uid: 1000, gid: 1000 });
    let uncompressed = 0;
    const growth = await peakRssGrowth(async () => {
      const blob = await buildLayerBlob(src, base, { uncompressedPath: join(base, "tee.tar") });
      uncompressed = blob.uncompressedSize;
    });
    expect(uncompressed).toBeGreaterThan(FILES * FILE_MIB * MiB);
    expect(growth).toBeLessThan(64 * MiB);
    const hashGrowth = await peakRssGrowth(() => diffIdOf(src));
    expect(hashGrowth).toBeLessThan(64 * MiB);
  }, 120_000);
});
