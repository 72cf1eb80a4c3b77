import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { directoryLayerSource, encodeTarHeader, type TarEntry } from "../../src/layers/index.js";
import { TarShapeHasher, ViewShapeHasher } from "../../src/restore-record/tar-shape.js";
import { sh, tarBytes } from "../layers/tar-read.js";

let base: string;
let root: string;
const owner = { uid: 1000, gid: 1000 };

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), "tar-shape-test-"));
  root = join(base, "layers", "acme_node", "node");
  const deep = join(root, "d".repeat(90), "e".repeat(90));
  await mkdir(deep, { recursive: true });
  await writeFile(join(root, "empty"), "");
  await writeFile(join(root, "block"), Buffer.alloc(512, 1));
  await writeFile(join(root, "odd"), Buffer.alloc(513, 2));
  await writeFile(join(deep, `${"long".repeat(40)}.txt`), "a name that needs PAX");
  await writeFile(join(root, "é.txt"), "not ASCII");
  await symlink("odd", join(root, "link"));
});

afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

/** The shape digest of raw tar bytes fed in pieces of `piece` bytes. */
function rawShape(tar: Buffer, piece: number): string | undefined {
  const hasher = new TarShapeHasher();
  for (let at = 0; at < tar.length; at += piece) hasher.update(tar.subarray(at, at + piece));
  return hasher.digest();
}

async function viewShape(): Promise<string> {
  const view = new ViewShapeHasher();
  for await (const e of directoryLayerSource(root, owner).entries()) view.add(e);
  return view.digest();
}

describe("tar shape", () => {
  it("of the exporter's own tar equals the shape of its entries, however the bytes are chunked", async () => {
    const tar = await tarBytes(directoryLayerSource(root, owner));
    const view = await viewShape();
    for (const piece of [1, 7, 512, 1000, 4096, tar.length]) expect(rawShape(tar, piece), `pieces of ${piece}`).toBe(view);
  });

  it("differs when an entry's header differs (another owner) or its size differs", async () => {
    const other = await tarBytes(directoryLayerSource(root, { uid: 0, gid: 0 }));
    expect(rawShape(other, 4096)).not.toBe(await viewShape());
    const view = new ViewShapeHasher();
    for await (const e of directoryLayerSource(root, owner).entries()) view.add(e.type === "file" && e.size === 513 ? { ...e, size: 514 } : e);
    expect(rawShape(await tarBytes(directoryLayerSource(root, owner)), 4096)).not.toBe(view.digest());
  });

  it("is not the exporter's for a tar padded to a 10 KiB record, with bytes after its end, or cut short", async () => {
    const tar = await tarBytes(directoryLayerSource(root, owner));
    const view = await viewShape();
    const padded = Buffer.concat([tar, Buffer.alloc(10240 - (tar.length % 10240))]);
    expect(rawShape(padded, 4096)).not.toBe(view);
    expect(rawShape(Buffer.concat([tar, Buffer.from("trailing")]), 4096)).not.toBe(view);
    expect(rawShape(tar.subarray(0, tar.length - 1024), 4096)).toBeUndefined();
  });

  it("is not the exporter's for GNU tar's archive of the same tree", async () => {
    const path = join(base, "gnu.tar");
    await sh("tar", ["--numeric-owner", "--owner=1000", "--group=1000", "-cf", path, "-C", "/", root.slice(1)]);
    expect(rawShape(await readFile(path), 4096)).not.toBe(await viewShape());
  });

  it("skips contents by a PAX size record (a file over 8 GiB) without reading them", () => {
    const size = 2 ** 33 + 3;
    const entry: TarEntry = { name: "/layers/big", type: "file", mode: 0o644, uid: 0, gid: 0, size };
    const header = encodeTarHeader(entry);
    expect(header.length).toBeGreaterThan(512); // PAX extended header, then the main block
    const hasher = new TarShapeHasher();
    hasher.update(header);
    const zeros = Buffer.alloc(1 << 20);
    let left = size;
    for (; left >= zeros.length; left -= zeros.length) hasher.update(zeros);
    hasher.update(zeros.subarray(0, left));
    hasher.update(Buffer.alloc(512 - (size % 512) + 1024));
    const view = new ViewShapeHasher();
    view.add(entry);
    expect(hasher.digest()).toBe(view.digest());
  });
});
