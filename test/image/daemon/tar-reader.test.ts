import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { readTar, TarReadError } from "../../../src/image/daemon/tar-reader.js";
import { runTool, useTempDir } from "../../harness/index.js";

/** The input in chunks of `size` bytes (headers and contents straddle chunk boundaries). */
async function* chunked(bytes: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let at = 0; at < bytes.length; at += size) {
    await Promise.resolve();
    yield bytes.subarray(at, at + size);
  }
}

async function listing(bytes: Buffer, chunk: number): Promise<{ name: string; type: string; content: string }[]> {
  const out: { name: string; type: string; content: string }[] = [];
  for await (const entry of readTar(chunked(bytes, chunk))) {
    if (entry.name.endsWith("skipped.txt")) {
      await entry.skip();
      out.push({ name: entry.name, type: entry.type, content: "(skipped)" });
      continue;
    }
    const parts: Buffer[] = [];
    for await (const part of entry.content()) parts.push(part);
    out.push({ name: entry.name, type: entry.type, content: Buffer.concat(parts).toString("utf8") });
  }
  return out;
}

describe("reading saved-image tars", () => {
  const temp = useTempDir("tar-reader");
  const longDir = `${"d".repeat(60)}/${"e".repeat(60)}`;
  const longName = `${longDir}/${"f".repeat(90)}.txt`;
  const expected = [
    { name: "a.txt", type: "file", content: "a\n" },
    { name: "dir/", type: "directory", content: "" },
    { name: "dir/skipped.txt", type: "file", content: "(skipped)" },
    { name: "dir/link", type: "symlink", content: "" },
    { name: `${"d".repeat(60)}/`, type: "directory", content: "" },
    { name: `${longDir}/`, type: "directory", content: "" },
    { name: longName, type: "file", content: "x".repeat(3000) },
  ];
  /** A name no ustar header can hold (one component over 100 bytes): PAX `path` or GNU long-name entries. */
  const unsplittable = `${"g".repeat(120)}.txt`;

  beforeAll(async () => {
    const root = join(temp(), "tree");
    await mkdir(join(root, longDir), { recursive: true });
    await mkdir(join(root, "dir"));
    await writeFile(join(root, "a.txt"), "a\n");
    await writeFile(join(root, "dir", "skipped.txt"), "s".repeat(700));
    await runTool("ln", ["-s", "../a.txt", join(root, "dir", "link")]);
    await writeFile(join(root, longName), "x".repeat(3000));
    await writeFile(join(root, unsplittable), "g\n");
  });

  // gnu: ././@LongLink entries; pax: extended headers; ustar: the name split into prefix and name
  for (const format of ["gnu", "pax", "ustar"] as const) {
    it(`reads names, kinds and contents of a ${format} tar, whatever the chunk size`, async () => {
      const archive = join(temp(), `${format}.tar`);
      const files = ["a.txt", "dir", "dir/skipped.txt", "dir/link", "d".repeat(60), longDir, longName];
      const long = format === "ustar" ? [] : [unsplittable];
      await runTool("tar", ["--format", format, "--no-recursion", "-cf", archive, "-C", join(temp(), "tree"), ...files, ...long]);
      const bytes = await readFile(archive);
      const want = [...expected, ...long.map((name) => ({ name, type: "file", content: "g\n" }))];
      for (const chunk of [100, 512, 4096, 1 << 20]) expect(await listing(bytes, chunk)).toEqual(want);
    });
  }

  it("rejects truncated, unterminated and non-tar input", async () => {
    const bytes = await readFile(join(temp(), "pax.tar"));
    const inside = bytes.subarray(0, 512 + 100); // inside the first entry
    await expect(listing(inside, 512)).rejects.toThrow(new TarReadError("the saved image stream ended inside an entry"));
    const noMarker = bytes.subarray(0, 512 * 2); // a.txt's header and content, then nothing
    await expect(listing(noMarker, 512)).rejects.toThrow("the saved image stream ended without the end-of-archive marker");
    await expect(listing(Buffer.alloc(1024, 0x41), 512)).rejects.toThrow("the saved image stream is not a valid tar (bad header checksum)");
  });
});
