import { createHash } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GZIP_BLOCK_SIZE, gzipHeader, parallelGzip } from "../../src/layers/parallel-gzip.js";
import { sh } from "./tar-read.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "parallel-gzip-test-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** ~`n` bytes of compressible but non-trivial data. */
function data(n: number): Buffer {
  const out = Buffer.alloc(n);
  let x = 42;
  for (let off = 0; off < n; ) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    off += out.write(`line ${x % 100_000} value=${(x >> 7) % 977} ok\n`, off);
  }
  return out;
}

async function* chunked(buf: Buffer, size: number): AsyncGenerator<Buffer, void, undefined> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
  await Promise.resolve();
}

async function gzipOf(input: AsyncIterable<Buffer>, concurrency: number, level = 1): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of parallelGzip(input, { level, concurrency })) parts.push(c);
  return Buffer.concat(parts);
}

describe("parallel gzip", () => {
  it("gives the same bytes whatever the concurrency and the input chunking", async () => {
    const input = data(5 * GZIP_BLOCK_SIZE + 12_345);
    const reference = await gzipOf(chunked(input, 1 << 20), 1);
    for (const [concurrency, chunk] of [[2, 4096], [4, 777_777], [8, 3 << 20]] as const) {
      expect((await gzipOf(chunked(input, chunk), concurrency)).equals(reference)).toBe(true);
    }
    expect(gunzipSync(reference).equals(input)).toBe(true);
    expect(reference.subarray(0, 10)).toEqual(gzipHeader(1));
    expect(reference.readUInt32LE(reference.length - 4)).toBe(input.length);
  });

  it("is accepted by GNU gzip (multi-block member, exact block multiples, empty input)", async () => {
    for (const [name, input] of [["multi", data(3 * GZIP_BLOCK_SIZE + 1)], ["exact", data(2 * GZIP_BLOCK_SIZE)], ["empty", Buffer.alloc(0)]] as const) {
      const path = join(dir, `${name}.gz`);
      await writeFile(path, await gzipOf(chunked(input, 65_536), 3, 6));
      await sh("gzip", ["-t", path]);
      const digest = (await sh("sh", ["-c", `gzip -dc '${path}' | sha256sum`])).split(" ")[0];
      expect(digest).toBe(createHash("sha256").update(input).digest("hex"));
    }
  });

  it("compresses about as well as a single zlib stream (dictionary carried across blocks)", async () => {
    const input = data(4 * GZIP_BLOCK_SIZE);
    const parallel = await gzipOf(chunked(input, 1 << 20), 4);
    const { gzipSync } = await import("node:zlib");
    const single = gzipSync(input, { level: 1 });
    expect(parallel.length).toBeLessThan(single.length * 1.01);
  });
});
