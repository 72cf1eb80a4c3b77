// Micro-benchmark (not a test). Run with plain node for realistic numbers (vite-node adds overhead):
//   npx esbuild test/layers/bench-layers.ts --bundle --platform=node --format=esm --outfile=/tmp/bench-layers.mjs
//   node /tmp/bench-layers.mjs [MiB=256] [smallFiles=20000]
// Measures diffIdOf, buildLayerBlob and plain gzip on text-like data, plus a many-small-files tree.
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createReadStream } from "node:fs";
import { pipeline } from "node:stream/promises";
import { Writable } from "node:stream";
import { createGzip } from "node:zlib";
import { buildLayerBlob, diffIdOf, directoryLayerSource } from "../../src/layers/index.js";
import { textLike } from "./bench-layers-data.js";

async function gzipOnly(files: string[]): Promise<{ out: number }> {
  let out = 0;
  for (const f of files) {
    await pipeline(
      createReadStream(f, { highWaterMark: 1 << 20 }),
      createGzip({ level: 1, chunkSize: 128 << 10 }),
      new Writable({
        write(chunk: Buffer, _e, cb) {
          out += chunk.length;
          cb();
        },
      }),
    );
  }
  return { out };
}

const mb = (bytes: number, ms: number): string => `${((bytes / 1e6) / (ms / 1000)).toFixed(1)} MB/s`;

/** Runs `f`, returning its result plus wall ms and process CPU seconds (main thread + thread pool). */
async function timed<T>(f: () => Promise<T>): Promise<{ value: T; ms: number; cpu: number }> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const value = await f();
  const c = process.cpuUsage(c0);
  return { value, ms: performance.now() - t0, cpu: (c.user + c.system) / 1e6 };
}

async function main(): Promise<void> {
  const mib = Number(process.argv[2] ?? 256);
  const smallFiles = Number(process.argv[3] ?? 20000);
  const root = await mkdtemp(join(tmpdir(), "bench-layers-"));
  try {
    const big = join(root, "big");
    await mkdir(big);
    const files: string[] = [];
    const per = 32 << 20;
    for (let i = 0; i * per < mib << 20; i++) {
      const f = join(big, `part-${i}.log`);
      await writeFile(f, textLike(Math.min(per, (mib << 20) - i * per), i + 1));
      files.push(f);
    }
    const src = directoryLayerSource(big, { uid: 1000, gid: 1000 });
    await diffIdOf(src); // warm the page cache
    const d = await timed(() => diffIdOf(src));
    console.log(`diffIdOf      ${mib} MiB: ${mb(d.value.size, d.ms)} (${(d.value.size / 1e6 / d.cpu).toFixed(0)} MB per CPU-s)`);
    for (const compression of ["parallel", "stream"] as const) {
      const b = await timed(() => buildLayerBlob(src, root, { compression }));
      const blob = b.value;
      console.log(
        `buildLayerBlob ${mib} MiB (${compression}): ${mb(blob.uncompressedSize, b.ms)}, ${(blob.uncompressedSize / 1e6 / b.cpu).toFixed(0)} MB per CPU-s (ratio ${(blob.uncompressedSize / blob.size).toFixed(2)}x)`,
      );
    }
    const g = await timed(() => gzipOnly(files));
    console.log(`gzip L1 only  ${mib} MiB: ${mb(mib << 20, g.ms)}, ${((mib << 20) / 1e6 / g.cpu).toFixed(0)} MB per CPU-s (ratio ${((mib << 20) / g.value.out).toFixed(2)}x)`);

    const small = join(root, "small");
    for (let i = 0; i < smallFiles; i++) {
      const dir = join(small, `d${i % 200}`, `e${i % 7}`);
      if (i < 1400) await mkdir(dir, { recursive: true });
      await writeFile(join(dir, `f${i}.js`), textLike(200 + (i % 4000), i));
    }
    const ssrc = directoryLayerSource(small, { uid: 1000, gid: 1000 });
    await diffIdOf(ssrc);
    const sd = await timed(() => diffIdOf(ssrc));
    console.log(`diffIdOf      ${smallFiles} small files (${(sd.value.size / 1e6).toFixed(1)} MB): ${sd.ms.toFixed(0)} ms, ${((smallFiles / sd.ms) * 1000).toFixed(0)} files/s`);
    const sb = await timed(() => buildLayerBlob(ssrc, root));
    console.log(`buildLayerBlob ${smallFiles} small files: ${sb.ms.toFixed(0)} ms (${mb(sb.value.uncompressedSize, sb.ms)})`);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

await main();
