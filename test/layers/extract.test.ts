import { createHash } from "node:crypto";
import { lstat, mkdir, mkdtemp, readFile, readdir, readlink, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import tar from "tar-stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ExtractError, extractLayer, type ExtractOptions } from "../../src/layers/extract.js";

interface TarEntry {
  name: string;
  type?: "file" | "directory" | "symlink" | "link" | "character-device" | "fifo";
  mode?: number;
  content?: string | Buffer;
  linkname?: string;
}

const MTIME = new Date("1980-01-01T00:00:01Z");
const PREFIX = "/layers/acme_node/node";

async function buildTar(entries: TarEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const e of entries) {
    const type = e.type ?? "file";
    const header = {
      name: e.name,
      type,
      mode: e.mode ?? (type === "directory" ? 0o755 : 0o644),
      mtime: MTIME,
      ...(e.linkname === undefined ? {} : { linkname: e.linkname }),
    };
    pack.entry(header, type === "file" ? (e.content ?? "") : "");
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** The ancestors Go writes before a layer's own entries. */
const ANCESTORS: TarEntry[] = [
  { name: "/layers", type: "directory" },
  { name: "/layers/acme_node", type: "directory" },
  { name: PREFIX, type: "directory", mode: 0o750 },
];

/** Every path below `dir` (not following symlinks), with a type marker. */
async function tree(dir: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(path: string, rel: string): Promise<void> {
    for (const name of (await readdir(path)).sort()) {
      const st = await lstat(join(path, name));
      const kind = st.isSymbolicLink() ? "@" : st.isDirectory() ? "/" : "";
      out.push(`${rel}${name}${kind}`);
      if (kind === "/") await walk(join(path, name), `${rel}${name}/`);
    }
  }
  await walk(dir, "");
  return out;
}

const modeOf = async (path: string): Promise<number> => (await lstat(path)).mode & 0o7777;
const sha256 = (data: Buffer): string => `sha256:${createHash("sha256").update(data).digest("hex")}`;

let base: string;
let root: string;
let outside: string;

beforeEach(async () => {
  base = await mkdtemp(join(tmpdir(), "extract-"));
  root = join(base, "root");
  outside = join(base, "outside");
  await mkdir(join(root, "layers"), { recursive: true });
  await mkdir(outside);
});

afterEach(async () => {
  await rm(base, { recursive: true, force: true });
});

function extract(data: Buffer, opts: Partial<ExtractOptions> = {}): ReturnType<typeof extractLayer> {
  return extractLayer(Readable.from([data]), { root, allowedPrefix: PREFIX, ...opts });
}

describe("extractLayer: a normal layer", () => {
  it("writes files, directories and symlinks with their tar modes under the root", async () => {
    await mkdir(join(root, "layers/acme_node"), { mode: 0o700 });
    const data = await buildTar([
      ...ANCESTORS,
      { name: `${PREFIX}/bin`, type: "directory", mode: 0o555 },
      { name: `${PREFIX}/bin/node`, mode: 0o755, content: "#!/bin/sh\necho node\n" },
      { name: `${PREFIX}/bin/suid`, mode: 0o4755, content: "x" },
      { name: `${PREFIX}/bin/npm`, type: "symlink", linkname: "../lib/npm.js" },
      { name: `${PREFIX}/current`, type: "symlink", linkname: `${PREFIX}/bin` },
      { name: `${PREFIX}/lib/npm.js`, mode: 0o600, content: "npm" },
      { name: `${PREFIX}/sticky`, type: "directory", mode: 0o1777 },
    ]);
    const result = await extract(data, { computeDiffID: true });

    const layer = join(root, PREFIX);
    expect(result).toEqual({ entries: 10, tarBytes: data.length, diffID: sha256(data), digest: undefined });
    expect(await readFile(join(layer, "bin/node"), "utf8")).toBe("#!/bin/sh\necho node\n");
    expect(await modeOf(join(layer, "bin/node"))).toBe(0o755);
    expect(await modeOf(join(layer, "bin/suid"))).toBe(0o4755);
    expect(await modeOf(join(layer, "lib/npm.js"))).toBe(0o600);
    expect(await modeOf(join(layer, "bin"))).toBe(0o555);
    expect(await modeOf(join(layer, "sticky"))).toBe(0o1777);
    expect(await modeOf(layer)).toBe(0o750);
    expect(await readlink(join(layer, "bin/npm"))).toBe("../lib/npm.js");
    expect(await readlink(join(layer, "current"))).toBe(`${PREFIX}/bin`);
    // an existing directory is left alone, a missing parent gets 0777 minus the umask
    expect(await modeOf(join(root, "layers/acme_node"))).toBe(0o700);
    await mkdir(join(base, "probe"), 0o777);
    expect(await modeOf(join(layer, "lib"))).toBe(await modeOf(join(base, "probe")));
  });

  it.runIf(process.getuid?.() === 0)("applies the requested owner to everything it creates (as root)", async () => {
    const data = await buildTar([
      ...ANCESTORS,
      { name: `${PREFIX}/bin/node`, mode: 0o4755, content: "x" },
      { name: `${PREFIX}/link`, type: "symlink", linkname: "bin/node" },
    ]);
    await extract(data, { owner: { uid: 1234, gid: 5678 } });
    for (const rel of ["", "/bin", "/bin/node", "/link"]) {
      const st = await lstat(join(root, PREFIX + rel));
      expect([rel, st.uid, st.gid]).toEqual([rel, 1234, 5678]);
    }
    // chown would clear setuid; the mode is applied afterwards
    expect(await modeOf(join(root, PREFIX, "bin/node"))).toBe(0o4755);
    // pre-existing /layers keeps its owner
    expect((await stat(join(root, "layers"))).uid).toBe(0);
  });

  it("restores mtimes only when asked", async () => {
    const data = await buildTar([...ANCESTORS, { name: `${PREFIX}/f`, content: "x" }]);
    await extract(data);
    expect((await stat(join(root, PREFIX, "f"))).mtime.getFullYear()).toBeGreaterThan(2000);
    await rm(join(root, "layers/acme_node"), { recursive: true });
    await extract(data, { restoreMtimes: true });
    expect((await stat(join(root, PREFIX, "f"))).mtime.toISOString()).toBe(MTIME.toISOString());
    expect((await stat(join(root, PREFIX))).mtime.toISOString()).toBe(MTIME.toISOString());
  });

  it("gunzips while streaming and checks both digests", async () => {
    const data = await buildTar([...ANCESTORS, { name: `${PREFIX}/f`, content: "gz" }]);
    const gz = gzipSync(data);
    const result = await extractLayer(Readable.from([gz]), {
      root, allowedPrefix: PREFIX, gzip: true, expectedDigest: sha256(gz), expectedDiffID: sha256(data),
    });
    expect(result.digest).toBe(sha256(gz));
    expect(result.diffID).toBe(sha256(data));
    expect(await readFile(join(root, PREFIX, "f"), "utf8")).toBe("gz");
  });

  it("rejects a missing root or a malformed prefix before reading anything", async () => {
    const input = Readable.from([Buffer.alloc(1024)]);
    await expect(extractLayer(input, { root: join(base, "missing"), allowedPrefix: PREFIX })).rejects.toThrow(
      /^extraction root ".*missing" is not a directory$/,
    );
    expect(input.destroyed).toBe(true);
    await expect(extract(Buffer.alloc(1024), { allowedPrefix: "/layers/../etc" })).rejects.toThrow(TypeError);
  });

  it("ignores PAX global headers", async () => {
    const data = await buildTar([
      { name: "pax_global_header", content: "14 comment=hi\n" },
      ...ANCESTORS,
      { name: `${PREFIX}/f`, content: "x" },
    ]);
    data[156] = "g".charCodeAt(0); // turn the first entry into a global header, then fix its checksum
    data.fill(" ", 148, 156);
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += data[i] ?? 0;
    data.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "latin1");

    const result = await extract(data);
    expect(result.entries).toBe(4);
    expect(await tree(root)).toEqual(["layers/", "layers/acme_node/", "layers/acme_node/node/", "layers/acme_node/node/f"]);
  });

  it("replaces a pre-existing file only once the whole archive succeeded", async () => {
    await mkdir(join(root, PREFIX), { recursive: true });
    await writeFile(join(root, PREFIX, "f"), "old");
    const good = await buildTar([...ANCESTORS, { name: `${PREFIX}/f`, content: "new", mode: 0o640 }]);
    const bad = await buildTar([...ANCESTORS, { name: `${PREFIX}/f`, content: "new" }, { name: "/etc/x" }]);

    await expect(extract(bad)).rejects.toThrow(ExtractError);
    expect(await readFile(join(root, PREFIX, "f"), "utf8")).toBe("old");
    expect(await readdir(join(root, PREFIX))).toEqual(["f"]);

    await extract(good);
    expect(await readFile(join(root, PREFIX, "f"), "utf8")).toBe("new");
    expect(await modeOf(join(root, PREFIX, "f"))).toBe(0o640);
    expect(await readdir(join(root, PREFIX))).toEqual(["f"]);
  });
});

describe("extractLayer: unsafe archives are refused and leave nothing behind", () => {
  const good: TarEntry[] = [...ANCESTORS, { name: `${PREFIX}/bin/ok`, content: "ok" }];

  const cases: { title: string; entries: TarEntry[]; code: string; message: RegExp; opts?: Partial<ExtractOptions> }[] = [
    {
      title: "a '..' entry that escapes",
      entries: [{ name: `${PREFIX}/../../../../outside/evil`, content: "x" }],
      code: "UNSAFE_PATH",
      message: /refusing to extract "\/layers\/acme_node\/node\/\.\.\/\.\.\/\.\.\/\.\.\/outside\/evil": path contains a "\.\." component/,
    },
    {
      title: "a relative entry name",
      entries: [{ name: "../outside/evil", content: "x" }],
      code: "UNSAFE_PATH",
      message: /"\.\.\/outside\/evil": entry name is not an absolute path/,
    },
    {
      title: "an absolute name outside the allowed prefix",
      entries: [{ name: "/etc/cron.d/evil", content: "x" }],
      code: "OUTSIDE_PREFIX",
      message: /refusing to extract "\/etc\/cron.d\/evil": outside the allowed directory "\/layers\/acme_node\/node"/,
    },
    {
      title: "another buildpack's layer",
      entries: [{ name: "/layers/other_bp/layer/x", content: "x" }],
      code: "OUTSIDE_PREFIX",
      message: /"\/layers\/other_bp\/layer\/x": outside the allowed directory/,
    },
    {
      title: "a '//' trick",
      entries: [{ name: `/layers//acme_node/node/x`, content: "x" }],
      code: "UNSAFE_PATH",
      message: /empty or "\." component/,
    },
    {
      title: "a '/./' trick",
      entries: [{ name: `${PREFIX}/./x`, content: "x" }],
      code: "UNSAFE_PATH",
      message: /empty or "\." component/,
    },
    {
      title: "an absolute symlink pointing outside",
      entries: [{ name: `${PREFIX}/esc`, type: "symlink", linkname: "/etc" }],
      code: "UNSAFE_SYMLINK",
      message: /refusing to extract "\/layers\/acme_node\/node\/esc": symlink target "\/etc" points outside/,
    },
    {
      title: "a relative symlink climbing out",
      entries: [{ name: `${PREFIX}/bin/esc`, type: "symlink", linkname: "../../../../../outside" }],
      code: "UNSAFE_SYMLINK",
      message: /"\/layers\/acme_node\/node\/bin\/esc": symlink target "\.\.\/\.\.\/\.\.\/\.\.\/\.\.\/outside" points outside/,
    },
    {
      title: "a symlink whose '..' follows another component",
      entries: [{ name: `${PREFIX}/esc`, type: "symlink", linkname: "bin/../../x" }],
      code: "UNSAFE_SYMLINK",
      message: /uses "\.\." after a path component/,
    },
    {
      title: "a file written through a symlink entry (any symlink target allowed)",
      entries: [
        { name: `${PREFIX}/esc`, type: "symlink", linkname: "@OUTSIDE@" },
        { name: `${PREFIX}/esc/pwned`, content: "x" },
      ],
      opts: { symlinkScope: "/" },
      code: "THROUGH_SYMLINK",
      message: /refusing to extract "\/layers\/acme_node\/node\/esc\/pwned": "\/layers\/acme_node\/node\/esc" is a symlink/,
    },
    {
      title: "a directory entry on top of a symlink entry",
      entries: [
        { name: `${PREFIX}/esc`, type: "symlink", linkname: "@OUTSIDE@" },
        { name: `${PREFIX}/esc`, type: "directory" },
        { name: `${PREFIX}/esc/pwned`, content: "x" },
      ],
      opts: { symlinkScope: "/" },
      code: "THROUGH_SYMLINK",
      message: /"\/layers\/acme_node\/node\/esc" is a symlink/,
    },
    {
      title: "a symlink inside the layer followed by a file through it",
      entries: [
        { name: `${PREFIX}/dir`, type: "directory" },
        { name: `${PREFIX}/alias`, type: "symlink", linkname: "dir" },
        { name: `${PREFIX}/alias/f`, content: "x" },
      ],
      code: "THROUGH_SYMLINK",
      message: /"\/layers\/acme_node\/node\/alias\/f": "\/layers\/acme_node\/node\/alias" is a symlink/,
    },
    {
      title: "a hard link",
      entries: [{ name: `${PREFIX}/passwd`, type: "link", linkname: "/etc/passwd" }],
      code: "UNSUPPORTED_TYPE",
      message: /refusing to extract "\/layers\/acme_node\/node\/passwd": hard links are not supported/,
    },
    {
      title: "a device",
      entries: [{ name: `${PREFIX}/null`, type: "character-device" }],
      code: "UNSUPPORTED_TYPE",
      message: /"\/layers\/acme_node\/node\/null": unsupported entry type "character-device"/,
    },
    {
      title: "a symlink onto an existing path",
      entries: [{ name: `${PREFIX}/bin/ok`, type: "symlink", linkname: "x" }],
      code: "EXISTS",
      message: /"\/layers\/acme_node\/node\/bin\/ok": a file already exists at the symlink's path/,
    },
    {
      title: "a non-directory ancestor entry",
      entries: [{ name: "/layers/acme_node", content: "x" }],
      code: "OUTSIDE_PREFIX",
      message: /"\/layers\/acme_node": outside the allowed directory/,
    },
  ];

  for (const c of cases) {
    it(`refuses ${c.title}`, async () => {
      const before = await tree(base);
      const entries = c.entries.map((e) => ({ ...e, linkname: e.linkname?.replace("@OUTSIDE@", outside) }));
      const data = await buildTar([...good, ...entries, { name: `${PREFIX}/after`, content: "late" }]);
      const err = await extract(data, c.opts).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ExtractError);
      expect((err as ExtractError).code).toBe(c.code);
      expect((err as ExtractError).message).toMatch(c.message);
      expect((err as ExtractError).message).not.toContain("\n");
      expect(await tree(base)).toEqual(before);
      expect(await readdir(outside)).toEqual([]);
    });
  }

  it("removes only its own files when a concurrent extraction shares the parents", async () => {
    const other = "/layers/acme_node/other";
    const okData = await buildTar([
      { name: "/layers", type: "directory" },
      { name: "/layers/acme_node", type: "directory" },
      { name: other, type: "directory" },
      ...Array.from({ length: 200 }, (_, i) => ({ name: `${other}/f${i}`, content: `${i}` })),
    ]);
    const badData = await buildTar([
      ...ANCESTORS,
      ...Array.from({ length: 200 }, (_, i) => ({ name: `${PREFIX}/f${i}`, content: `${i}` })),
      { name: `${PREFIX}/hl`, type: "link", linkname: "/etc/shadow" },
    ]);
    const [ok, bad] = await Promise.allSettled([
      extractLayer(Readable.from([okData]), { root, allowedPrefix: other }),
      extract(badData),
    ]);
    expect(ok.status).toBe("fulfilled");
    expect(bad.status).toBe("rejected");
    expect((await readdir(join(root, other))).length).toBe(200);
    expect(await readdir(join(root, "layers/acme_node"))).toEqual(["other"]);
  });
});

describe("extractLayer: broken streams leave nothing behind", () => {
  const entries: TarEntry[] = [
    ...ANCESTORS,
    { name: `${PREFIX}/a`, content: "a" },
    { name: `${PREFIX}/big`, content: Buffer.alloc(200_000, 7) },
    { name: `${PREFIX}/z`, content: "z" },
  ];

  async function expectFailsCleanly(run: () => Promise<unknown>, check: (err: unknown) => void): Promise<void> {
    const before = await tree(base);
    const err = await run().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeDefined();
    check(err);
    expect(await tree(base)).toEqual(before);
  }

  it("refuses a stream cut inside a file", async () => {
    const data = await buildTar(entries);
    await expectFailsCleanly(() => extract(data.subarray(0, 100_000)), (err) => {
      expect(err).toBeInstanceOf(ExtractError);
      expect((err as ExtractError).code).toBe("TRUNCATED");
    });
  });

  it("refuses a stream cut at an entry boundary (no end-of-archive marker)", async () => {
    const data = await buildTar(entries);
    await expectFailsCleanly(() => extract(data.subarray(0, data.length - 1024)), (err) => {
      expect((err as ExtractError).code).toBe("TRUNCATED");
      expect((err as Error).message).toMatch(/end-of-archive marker/);
    });
  });

  it("refuses bytes that are not a tar", async () => {
    await expectFailsCleanly(() => extract(Buffer.alloc(4096, 0x41)), (err) => {
      expect((err as ExtractError).code).toBe("CORRUPT");
    });
  });

  it("refuses a diffID mismatch after writing everything, and removes it", async () => {
    const data = await buildTar(entries);
    const want = `sha256:${"0".repeat(64)}`;
    await expectFailsCleanly(() => extract(data, { expectedDiffID: want }), (err) => {
      expect((err as ExtractError).code).toBe("DIGEST_MISMATCH");
      expect((err as Error).message).toBe(`layer diffID mismatch: expected '${want}'; found '${sha256(data)}'`);
    });
  });

  it("rethrows the input's own error unchanged", async () => {
    const data = await buildTar(entries);
    const readErr = new Error("unexpected EOF from registry");
    function* failing(): Generator<Buffer> {
      yield data.subarray(0, 150_000);
      throw readErr;
    }
    await expectFailsCleanly(
      () => extractLayer(Readable.from(failing()), { root, allowedPrefix: PREFIX }),
      (err) => expect(err).toBe(readErr),
    );
  });

  it("refuses corrupt gzip", async () => {
    const gz = gzipSync(await buildTar(entries));
    gz[gz.length - 8] = (gz[gz.length - 8] ?? 0) ^ 0xff; // break the CRC
    await expectFailsCleanly(() => extract(gz, { gzip: true }), (err) => {
      expect((err as ExtractError).code).toBe("CORRUPT");
      expect((err as Error).message).toMatch(/not valid gzip/);
    });
  });
});
