import { link, mkdir, mkdtemp, rm, stat, symlink, utimes, writeFile, chmod } from "node:fs/promises";
import { createServer } from "node:net";
import type { Server } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { diffIdOf, directoryLayerSource } from "../../src/layers/index.js";
import { NORMALIZED_MTIME } from "../../src/oci/normalized-time.js";
import { gnuTarList, readTar, sh, tarBytes } from "./tar-read.js";

let base: string;
let root: string; // <base>/layers/acme_node/node
let server: Server;
const owner = { uid: 1234, gid: 4321 };

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), "dir-layer-test-"));
  root = join(base, "layers", "acme_node", "node");
  await mkdir(join(root, "bin"), { recursive: true });
  await mkdir(join(root, "lib", "a"), { recursive: true });
  await mkdir(join(root, "empty"));
  await chmod(join(root, "empty"), 0o2755);
  await chmod(join(root, "lib"), 0o750);
  await writeFile(join(root, "bin", "node"), "#!/bin/sh\necho node\n", { mode: 0o755 });
  await writeFile(join(root, "lib", "a", "x.js"), "x");
  await writeFile(join(root, "lib", "a-b.js"), "ab");
  await writeFile(join(root, "lib", "a.js"), "module.exports = 1;\n", { mode: 0o644 });
  await writeFile(join(root, "Z"), "");
  await writeFile(join(root, "é.txt"), "accent");
  await link(join(root, "lib", "a.js"), join(root, "hard"));
  await symlink("bin/node", join(root, "link"));
  await sh("mkfifo", ["-m", "0600", join(root, "pipe")]);
  server = createServer();
  await new Promise<void>((resolve) => server.listen(join(root, "sock"), resolve));
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await rm(base, { recursive: true, force: true });
});

async function writeTemp(name: string, data: Buffer): Promise<string> {
  const path = join(base, name);
  await writeFile(path, data);
  return path;
}

function ancestorsOf(p: string): string[] {
  const out: string[] = [];
  for (let d = dirname(p); d !== "/"; d = dirname(d)) out.unshift(d);
  return out;
}

describe("directory layer", () => {
  it("lists ancestors (real owners) then a depth-first walk with children in byte order", async () => {
    const entries = await readTar(await tarBytes(directoryLayerSource(root, owner)));
    const ancestors = ancestorsOf(root);
    expect(entries.map((e) => e.name)).toEqual([
      ...ancestors,
      root,
      `${root}/Z`,
      `${root}/bin`,
      `${root}/bin/node`,
      `${root}/empty`,
      `${root}/hard`,
      `${root}/lib`,
      `${root}/lib/a`,
      `${root}/lib/a/x.js`,
      `${root}/lib/a-b.js`,
      `${root}/lib/a.js`,
      `${root}/link`,
      `${root}/pipe`,
      `${root}/é.txt`,
    ]);
    for (const [i, a] of ancestors.entries()) {
      const st = await stat(a);
      expect(entries[i]).toMatchObject({ type: "directory", uid: st.uid, gid: st.gid, mode: st.mode & 0o7777 });
    }
    expect(entries.every((e) => e.mtime === NORMALIZED_MTIME)).toBe(true);
    const inLayer = entries.slice(ancestors.length);
    expect(inLayer.every((e) => e.uid === 1234 && e.gid === 4321)).toBe(true);
    const byName = new Map(inLayer.map((e) => [e.name.slice(root.length), e]));
    expect(byName.get("/empty")).toMatchObject({ type: "directory", mode: 0o2755 });
    expect(byName.get("/lib")).toMatchObject({ type: "directory", mode: 0o750 });
    expect(byName.get("/bin/node")).toMatchObject({ type: "file", mode: 0o755, size: 20 });
    expect(byName.get("/link")).toMatchObject({ type: "symlink", linkname: "bin/node", size: 0 });
    expect(byName.get("/pipe")).toMatchObject({ type: "fifo", mode: 0o600 });
    expect(byName.get("/hard")).toMatchObject({ type: "file", size: 20 });
    expect(byName.get("/hard")!.content.toString()).toBe("module.exports = 1;\n");
    expect(byName.get("/é.txt")!.content.toString()).toBe("accent");
    expect(byName.has("/sock")).toBe(false);
  });

  it("is listed by GNU tar with absolute names, modes and numeric owners", async () => {
    const path = join(base, "layer.tar");
    await writeFile(path, await tarBytes(directoryLayerSource(root, owner)));
    const lines = await gnuTarList(path);
    const ours = lines.filter((l) => l.name.startsWith(root));
    expect(ours.map((l) => `${l.mode} ${l.owner} ${l.name.slice(root.length)}`)).toEqual([
      "drwxr-xr-x 1234/4321 ",
      "-rw-r--r-- 1234/4321 /Z",
      "drwxr-xr-x 1234/4321 /bin",
      "-rwxr-xr-x 1234/4321 /bin/node",
      "drwxr-sr-x 1234/4321 /empty",
      "-rw-r--r-- 1234/4321 /hard",
      "drwxr-x--- 1234/4321 /lib",
      "drwxr-xr-x 1234/4321 /lib/a",
      "-rw-r--r-- 1234/4321 /lib/a/x.js",
      "-rw-r--r-- 1234/4321 /lib/a-b.js",
      "-rw-r--r-- 1234/4321 /lib/a.js",
      "lrwxrwxrwx 1234/4321 /link -> bin/node",
      "prw------- 1234/4321 /pipe",
      "-rw-r--r-- 1234/4321 /é.txt",
    ]);
    expect(lines.slice(0, lines.length - ours.length).map((l) => l.name)).toEqual(ancestorsOf(root));
  });

  it("gives the same diffID after mtimes and atimes change on disk", async () => {
    const src = directoryLayerSource(root, owner);
    const before = await diffIdOf(src);
    await utimes(join(root, "lib", "a.js"), new Date("2001-02-03T04:05:06Z"), new Date("2011-02-03T04:05:06Z"));
    await utimes(join(root, "bin"), new Date(), new Date());
    await utimes(root, 12345, 67890);
    const after = await diffIdOf(src);
    expect(after).toEqual(before);
    expect((await diffIdOf(directoryLayerSource(root, { uid: 1, gid: 1 }))).diffId).not.toBe(before.diffId);
  });

  it("keeps file names byte-exact, even when they are not UTF-8 (PAX path record with the raw bytes)", async () => {
    const odd = join(base, "odd");
    await mkdir(odd);
    const rawName = Buffer.from([0x66, 0xff, 0x2e, 0x74]); // "f\xff.t"
    await writeFile(Buffer.concat([Buffer.from(`${odd}/`), rawName]), "x");
    const tar = await tarBytes(directoryLayerSource(odd, owner));
    const fullName = Buffer.concat([Buffer.from(`${odd}/`), rawName]);
    expect(tar.includes(Buffer.concat([Buffer.from(" path="), fullName, Buffer.from("\n")]))).toBe(true);
    const lines = await gnuTarList(await writeTemp("odd.tar", tar));
    expect(lines.at(-1)!.name).toBe(`${odd}/f\\377.t`);
  });

  it("fails when the layer directory does not exist", async () => {
    await expect(diffIdOf(directoryLayerSource(join(base, "missing"), owner))).rejects.toThrow(/ENOENT/);
  });
});
