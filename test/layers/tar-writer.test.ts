import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  EMPTY_LAYER_DIFF_ID,
  TarContentError,
  diffIdOf,
  emptyLayerSource,
  staticLayerSource,
  tarChunks,
  tarStream,
} from "../../src/layers/index.js";
import type { TarEntry } from "../../src/layers/index.js";
import { goBlock, padded } from "./go-tar-fixtures.js";
import { readTar, sh, tarBytes } from "./tar-read.js";

const sha256 = (b: Buffer): string => `sha256:${createHash("sha256").update(b).digest("hex")}`;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "tar-writer-test-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("tar writer", () => {
  it("writes the empty layer as 1024 zero bytes with the well-known diffID", async () => {
    const bytes = await tarBytes(emptyLayerSource());
    expect(bytes).toEqual(Buffer.alloc(1024));
    expect((await diffIdOf(emptyLayerSource())).diffId).toBe(EMPTY_LAYER_DIFF_ID);
    expect(sha256(bytes)).toBe(EMPTY_LAYER_DIFF_ID);
  });

  it("writes a one-file layer exactly as Go's tar.Writer does (header, padded data, two zero blocks)", async () => {
    const src = staticLayerSource([{ name: "/hello.txt", type: "file", mode: 0o644, uid: 0, gid: 0, content: Buffer.from("hello\n") }]);
    const expected = Buffer.concat([
      goBlock({ name: "/hello.txt", mode: "0000644\0", size: "00000000006\0", typeflag: "0" }),
      padded("hello\n"),
      Buffer.alloc(1024),
    ]);
    const bytes = await tarBytes(src);
    expect(bytes).toEqual(expected);
    // Assembled by hand from Go's format.go layout; GNU tar 1.34 (--format=ustar -P -b 1
    // --numeric-owner --mtime=@315532801) produces the same digest for this file.
    const GO_DIFF_ID = "sha256:21317aa608af6e4ecea7b2f8742695d499600445d2f83b519b1c48175cb5f8c8";
    expect(sha256(expected)).toBe(GO_DIFF_ID);
    expect((await diffIdOf(src)).diffId).toBe(GO_DIFF_ID);
  });

  it("produces the same bytes as GNU tar --format=ustar for a file whose name needs the prefix field", async () => {
    const deep = join(dir, "d".repeat(60), "e".repeat(60));
    await mkdir(deep, { recursive: true });
    const path = join(deep, "f".repeat(90));
    await writeFile(path, "hello", { mode: 0o644 });
    const gnuTar = join(dir, "gnu.tar");
    await sh("tar", ["--format=ustar", "-P", "-b", "1", "--numeric-owner", "--owner=1000", "--group=1000", "--mtime=@315532801", "-cf", gnuTar, path]);
    const ours = await tarBytes(staticLayerSource([{ name: path, type: "file", mode: 0o644, uid: 1000, gid: 1000, size: 5, source: path }]));
    expect(ours).toEqual(await readFile(gnuTar));
  });

  it("emits the same bytes whatever the chunk size, never exceeding it", async () => {
    const big = join(dir, "big.bin");
    await writeFile(big, Buffer.alloc(300_000, 7));
    const entries: TarEntry[] = [
      { name: "/a", type: "dir", mode: 0o755, uid: 1, gid: 1 },
      { name: "/a/small", type: "file", mode: 0o600, uid: 1, gid: 1, content: Buffer.from("x".repeat(700)) },
      { name: "/a/big", type: "file", mode: 0o600, uid: 1, gid: 1, size: 300_000, source: big },
      { name: `/a/${"l".repeat(150)}`, type: "symlink", mode: 0o777, uid: 1, gid: 1, linkname: "big" },
    ];
    const reference = await tarBytes(staticLayerSource(entries));
    for (const chunkSize of [512, 600, 4096, 65_536]) {
      const parts: Buffer[] = [];
      for await (const c of tarChunks(entries, { chunkSize, syncReadMax: 1000 })) parts.push(c);
      expect(Math.max(...parts.map((p) => p.length))).toBeLessThanOrEqual(chunkSize);
      expect(Buffer.concat(parts).equals(reference)).toBe(true);
    }
    const read = await readTar(reference);
    expect(read.map((e) => [e.name, e.type, e.size])).toEqual([
      ["/a", "directory", 0],
      ["/a/small", "file", 700],
      ["/a/big", "file", 300_000],
      [`/a/${"l".repeat(150)}`, "symlink", 0],
    ]);
    expect(read[2]!.content).toEqual(Buffer.alloc(300_000, 7));
  });

  it("exposes the archive as a byte stream too", async () => {
    const entries: TarEntry[] = [{ name: "/s", type: "file", mode: 0o644, uid: 0, gid: 0, content: Buffer.from("stream") }];
    const parts: Buffer[] = [];
    for await (const c of tarStream(entries)) parts.push(c as Buffer);
    expect(Buffer.concat(parts)).toEqual(await tarBytes(staticLayerSource(entries)));
  });

  it("fails like Go when a file grew or shrank after it was listed", async () => {
    const f = join(dir, "changing.txt");
    await writeFile(f, "0123456789");
    for (const size of [5, 200_000]) {
      const grew = tarChunks([{ name: "/x", type: "file", mode: 0o644, uid: 0, gid: 0, size, source: f }]);
      await writeFile(f, Buffer.alloc(size + 1));
      await expect(drain(grew)).rejects.toThrow(/write too long/);
      await truncate(f, size - 1);
      const shrank = tarChunks([{ name: "/x", type: "file", mode: 0o644, uid: 0, gid: 0, size, source: f }]);
      await expect(drain(shrank)).rejects.toThrow(TarContentError);
      await expect(drain(tarChunks([{ name: "/x", type: "file", mode: 0o644, uid: 0, gid: 0, size, source: f }]))).rejects.toThrow(/missed writing 1 bytes/);
    }
  });
});

async function drain(it: AsyncIterable<Buffer>): Promise<number> {
  let n = 0;
  for await (const c of it) n += c.length;
  return n;
}
