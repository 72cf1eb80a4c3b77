// The restore record (README "The restore record"): an unchanged restored layer is reused without a
// read, and every way of changing a restored layer makes the exporter read it again, so the image
// gets the new content (checked in the unpacked image).
import { chmodSync, chownSync, existsSync, linkSync, lstatSync, readFileSync, readlinkSync, renameSync, rmSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { absPath } from "../src/layers/fs-entries.js";
import { printOf, walkLayer } from "../src/restore-record/layer-walk.js";
import { recordPath, RestoreRecordSchema } from "../src/restore-record/record-file.js";
import { buildRunImage, expectNoLeakedProcesses, pushImage } from "../test/harness/index.js";
import { useRegistry } from "../test/harness/vitest/use-registry.js";
import { useTempDir } from "../test/harness/vitest/use-temp-dir.js";
import { analyze, diffIdLine, exportImage, firstBuild, layerDir, rebuild, restore, unpack, type BuildContext } from "./helpers/rebuild.js";
import type { Workspace } from "./helpers/workspace.js";

expectNoLeakedProcesses();
const reg = useRegistry("plain");
const temp = useTempDir("restore-record");

const RUNTIME = "acme/node:runtime";
let ctx: BuildContext;
let tags = 0;

beforeAll(async () => {
  const runImage = await buildRunImage(join(temp(), "run-layout"));
  await pushImage(runImage, reg(), "acme/run:1");
  ctx = await firstBuild(join(temp(), "ws"), reg(), "acme/changes");
});

/** The runtime layer's directory inside an unpacked image. */
function inImage(rootfs: string, rel: string): string {
  return join(rootfs, layerDir(ctx.ws, "runtime"), rel);
}

/** Rewrites a file with other bytes of the same size and sets its mtime back: only the ctime tells. */
function rewriteKeepingSizeAndMtime(path: string, text: string): void {
  const before = lstatSync(path);
  expect(Buffer.byteLength(text)).toBe(before.size);
  writeFileSync(path, text);
  utimesSync(path, before.atime, before.mtime);
  expect(lstatSync(path).mtimeMs).toBe(before.mtimeMs);
}

describe("an unchanged restored layer", () => {
  it("is reused from the record with no read, and the cache step neither reads nor re-verifies it", async () => {
    const tag = `t${++tags}`;
    const r = await rebuild(ctx, tag);
    expect(r.stdout).toContain(`Reusing layer '${RUNTIME}'`);
    expect(diffIdLine(r.stdout, RUNTIME)).toMatch(/from the restore record, no file read/);
    // the cache-only layer: its diffID from the record too, and the cache tar is not hashed again
    expect(diffIdLine(r.stdout, "acme/node:tools")).toMatch(/from the restore record, no file read/);
    expect(r.stdout).toMatch(/Cache layer 'acme\/node:runtime': not verified again/);
    expect(r.stdout).toMatch(/Cache layer 'acme\/node:tools': not verified again/);
    expect(r.stdout).toContain("Reusing cache layer 'acme/node:tools'");
    const rootfs = await unpack(ctx, tag, temp());
    expect(readFileSync(inImage(rootfs, "bin/node"), "utf8")).toBe("runtime v1\n");
  });

  it("restored from an image cache is reused from the record too", async () => {
    const cacheImage = `${reg().host}/acme/changes-cache:1`;
    const other = await firstBuild(join(temp(), "ws-image-cache"), reg(), "acme/image-cache", { cacheImage });
    const r = await rebuild(other, "2");
    expect(r.stdout).toContain(`Reusing layer '${RUNTIME}'`);
    expect(diffIdLine(r.stdout, RUNTIME)).toMatch(/from the restore record, no file read/);
    expect(diffIdLine(r.stdout, "acme/node:tools")).toMatch(/from the restore record, no file read/);
    expect(r.stdout).toContain("Reusing cache layer 'acme/node:tools'");
  });
});

interface Change {
  readonly name: string;
  readonly change: (ws: Workspace) => void;
  /** What the debug log gives as the reason the record was rejected. */
  readonly reason: RegExp;
  /** Checks the unpacked image has the new content. */
  readonly check: (rootfs: string) => void;
  /** The change does not show in the tar (owners are -uid/-gid): the layer is read and then reused. */
  readonly sameTar?: boolean;
}

const runtime = (ws: Workspace, rel: string): string => join(layerDir(ws, "runtime"), rel);

const CHANGES: readonly Change[] = [
  {
    name: "content rewritten with the same size and the old mtime set back",
    change: (ws) => rewriteKeepingSizeAndMtime(runtime(ws, "bin/node"), "runtime v2\n"),
    reason: /'bin\/node' changed \(.*ctime/,
    check: (rootfs) => expect(readFileSync(inImage(rootfs, "bin/node"), "utf8")).toBe("runtime v2\n"),
  },
  {
    name: "a file added",
    change: (ws) => writeFileSync(runtime(ws, "lib/new.txt"), "new\n"),
    reason: /'lib\/new\.txt' was added/,
    check: (rootfs) => expect(readFileSync(inImage(rootfs, "lib/new.txt"), "utf8")).toBe("new\n"),
  },
  {
    name: "a file removed",
    change: (ws) => rmSync(runtime(ws, "lib/sub/b.txt")),
    reason: /'lib\/sub\/b\.txt' was removed/,
    check: (rootfs) => {
      expect(existsSync(inImage(rootfs, "lib/sub"))).toBe(true);
      expect(existsSync(inImage(rootfs, "lib/sub/b.txt"))).toBe(false);
    },
  },
  {
    name: "a chmod",
    change: (ws) => chmodSync(runtime(ws, "bin/node"), 0o700),
    reason: /'bin\/node' changed \(mode, ctime\)/,
    check: (rootfs) => expect(lstatSync(inImage(rootfs, "bin/node")).mode & 0o7777).toBe(0o700),
  },
  {
    name: "a chown",
    change: (ws) => chownSync(runtime(ws, "lib/a.txt"), 1234, 4321),
    reason: /'lib\/a\.txt' changed \(uid, gid, ctime\)/,
    // owners in a layer are -uid/-gid, so the tar is the same: read, then reused
    sameTar: true,
    check: (rootfs) => {
      const st = lstatSync(inImage(rootfs, "lib/a.txt"));
      expect([st.uid, st.gid]).toEqual([0, 0]);
      expect(readFileSync(inImage(rootfs, "lib/a.txt"), "utf8")).toBe("alpha\n");
    },
  },
  {
    name: "a symlink retargeted",
    change: (ws) => {
      rmSync(runtime(ws, "lib/link"));
      symlinkSync("sub/b.txt", runtime(ws, "lib/link"));
    },
    reason: /'lib\/link' changed \(.*link target/,
    check: (rootfs) => expect(readlinkSync(inImage(rootfs, "lib/link"))).toBe("sub/b.txt"),
  },
  {
    name: "a hard link added",
    change: (ws) => linkSync(runtime(ws, "lib/a.txt"), runtime(ws, "lib/hard.txt")),
    // the target comes first in the walk: its link count and ctime moved
    reason: /'lib\/a\.txt' changed \(link count, ctime\)/,
    check: (rootfs) => {
      expect(readFileSync(inImage(rootfs, "lib/hard.txt"), "utf8")).toBe("alpha\n");
      expect(lstatSync(inImage(rootfs, "lib/hard.txt")).isFile()).toBe(true);
    },
  },
  {
    name: "a directory renamed",
    change: (ws) => renameSync(runtime(ws, "lib/sub"), runtime(ws, "lib/sub2")),
    reason: /'lib\/sub' was removed|'lib\/sub2' was added/,
    check: (rootfs) => {
      expect(existsSync(inImage(rootfs, "lib/sub"))).toBe(false);
      expect(readFileSync(inImage(rootfs, "lib/sub2/b.txt"), "utf8")).toBe("bravo\n");
    },
  },
  {
    name: "an ancestor directory re-permissioned",
    change: (ws) => chmodSync(join(ws.layers, "acme_node"), 0o750),
    reason: /ancestor '.*\/acme_node' changed \(mode\)/,
    check: (rootfs) => expect(lstatSync(join(rootfs, ctx.ws.layers, "acme_node")).mode & 0o7777).toBe(0o750),
  },
];

describe("a layer changed after the restore is read again and exported with its new content", () => {
  for (const c of CHANGES) {
    it(c.name, async () => {
      const tag = `t${++tags}`;
      const r = await rebuild(ctx, tag, c.change);
      const line = diffIdLine(r.stdout, RUNTIME);
      expect(line).toMatch(/diffID from reading the layer: changed since the restore/);
      expect(line).toMatch(c.reason);
      expect(r.stdout).toContain(`${c.sameTar ? "Reusing" : "Adding"} layer '${RUNTIME}'`);
      c.check(await unpack(ctx, tag, temp()));
    });
  }

  it("a file changed within the same clock step as the record: the racy entry is read again", async () => {
    // The restorer waits for the filesystem clock to move before it takes the record, so a real
    // restore cannot record an entry in the record's own clock step. The record of a restorer that
    // did (the change below landing in the record's tick) is made by rewriting the record: the
    // changed file's print as it is now, and the record's moment set to its ctime.
    await analyze(ctx, "racy-control");
    await restore(ctx);
    const file = join(layerDir(ctx.ws, "runtime"), "bin/node");
    rewriteKeepingSizeAndMtime(file, "runtime v3\n");
    const forge = (momentAfterChange: bigint) => {
      const record = RestoreRecordSchema.parse(JSON.parse(readFileSync(recordPath(ctx.ws.layers), "utf8")));
      const layer = record.layers.find((l) => l.dir === absPath(layerDir(ctx.ws, "runtime")).toString("latin1"));
      if (!layer) throw new Error("runtime layer not recorded");
      const now = [...walkLayer(absPath(layerDir(ctx.ws, "runtime")))].map(printOf);
      const changed = now.find((p) => p[0] === "bin/node");
      if (!changed) throw new Error("bin/node not found");
      layer.entries = now;
      writeFileSync(recordPath(ctx.ws.layers), JSON.stringify({ ...record, moment: String(BigInt(changed[10]) + momentAfterChange) }));
    };

    // control: with a moment one nanosecond later the forged record is trusted (and stale) — what
    // the racy rule exists for
    forge(1n);
    const control = await exportImage(ctx, "racy-control", { noCache: true });
    expect(diffIdLine(control.stdout, RUNTIME)).toMatch(/from the restore record/);
    expect(control.stdout).toContain(`Reusing layer '${RUNTIME}'`);

    // the change in the record's clock step: not trusted, read, exported with its new content
    forge(0n);
    const r = await exportImage(ctx, "racy", { noCache: true });
    expect(diffIdLine(r.stdout, RUNTIME)).toMatch(/diffID from reading the layer: 'bin\/node' was changed within the clock step of the restore record \(racy\)/);
    expect(r.stdout).toContain(`Adding layer '${RUNTIME}'`);
    const rootfs = await unpack(ctx, "racy", temp());
    expect(readFileSync(inImage(rootfs, "bin/node"), "utf8")).toBe("runtime v3\n");
  });
});
