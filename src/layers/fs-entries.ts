// Turning files on disk into tar entries the way Go's `tar.FileInfoHeader` + the lifecycle's
// normalising writer do, and walking a tree in `filepath.Walk` order.
import { lstatSync, readdirSync, readlinkSync } from "node:fs";
import { stat } from "node:fs/promises";
import { resolve } from "node:path";
import type { Owner } from "./layer-source.js";
import type { TarEntry } from "./tar-entry.js";

/** The stat fields an entry is built from (`fs.Stats` has them; slices keep just these). */
export interface StatLike {
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  readonly rdev: number;
}

const S_IFMT = 0o170000;
const S_IFSOCK = 0o140000;
const S_IFLNK = 0o120000;
const S_IFREG = 0o100000;
const S_IFBLK = 0o060000;
const S_IFDIR = 0o040000;
const S_IFCHR = 0o020000;
const S_IFIFO = 0o010000;
const SLASH = Buffer.from("/");

/** A compact copy of the fields of a stat result (for lists held across a whole build). */
export function statLike(st: StatLike): StatLike {
  return { mode: st.mode, uid: st.uid, gid: st.gid, size: st.size, rdev: st.rdev };
}

/** Whether a stat result is a directory. */
export function isDir(st: StatLike): boolean {
  return (st.mode & S_IFMT) === S_IFDIR;
}

/** Joins a directory path and a child name (Go `filepath.Join` for clean inputs). */
export function joinPath(dir: Buffer, name: Buffer): Buffer {
  return dir.length === 1 && dir[0] === 0x2f ? Buffer.concat([SLASH, name]) : Buffer.concat([dir, SLASH, name]);
}

/** The absolute, cleaned form of `p` as bytes (Go `filepath.Abs`). */
export function absPath(p: string): Buffer {
  return Buffer.from(resolve(p), "utf8");
}

/** Linux `unix.Major`/`unix.Minor` of a device number, as Go's `statUnix` computes them. */
export function deviceNumbers(rdev: number): { devmajor: number; devminor: number } {
  const high = Math.floor(rdev / 2 ** 32);
  const devmajor = (((rdev & 0xfff00) >>> 8) | (high & 0xfffff000)) >>> 0;
  const devminor = ((rdev & 0xff) | (Math.floor(rdev / 4096) & 0xffffff00)) >>> 0;
  return { devmajor, devminor };
}

/**
 * The entry for `path` with stat result `st` (lstat for walked files, stat for ancestors), owned by
 * `owner` or by the file's real owner; `undefined` for sockets, which the lifecycle skips. Symlink
 * targets are read here (synchronously, see {@link walkEntries}).
 */
export function fsEntry(path: Buffer, st: StatLike, owner?: Owner): TarEntry | undefined {
  const base = { name: path, mode: st.mode & 0o7777, uid: owner?.uid ?? st.uid, gid: owner?.gid ?? st.gid };
  switch (st.mode & S_IFMT) {
    case S_IFREG:
      return { ...base, type: "file", size: st.size, source: path };
    case S_IFDIR:
      return { ...base, type: "dir" };
    case S_IFLNK:
      return { ...base, type: "symlink", linkname: readlinkSync(path, { encoding: "buffer" }) };
    case S_IFCHR:
      return { ...base, type: "char", ...deviceNumbers(st.rdev) };
    case S_IFBLK:
      return { ...base, type: "block", ...deviceNumbers(st.rdev) };
    case S_IFIFO:
      return { ...base, type: "fifo" };
    case S_IFSOCK:
      return undefined;
    default:
      throw new Error(`archive/tar: unknown file mode ${st.mode.toString(8)} for '${path.toString("utf8")}'`);
  }
}

/**
 * Entries for the ancestors of `path` from the top (`/layers`, then `/layers/<bp>`), excluding `/`,
 * each stat'ed (symlinks followed) and keeping its real owner — the lifecycle's `parents()`.
 */
export async function ancestorEntries(path: Buffer): Promise<TarEntry[]> {
  const s = path.toString("latin1");
  const out: TarEntry[] = [];
  for (let i = s.indexOf("/", 1); i > 0; i = s.indexOf("/", i + 1)) {
    const parent = path.subarray(0, i);
    const e = fsEntry(parent, await stat(parent));
    if (e) out.push(e);
  }
  return out;
}

/** A directory's child names in byte order (Go `readDirNames` + `sort.Strings`). */
export function sortedNames(dir: Buffer): Buffer[] {
  return readdirSync(dir, { encoding: "buffer" }).sort((a, b) => Buffer.compare(a, b));
}

interface Frame {
  readonly dir: Buffer;
  readonly names: Buffer[];
  next: number;
}

/**
 * The paths under `root` (itself first) in the exporter's archive order, like Go's `filepath.Walk`:
 * lstat (`lstatOf`), symlinks not followed, a directory before its children, children in byte order.
 * The restore record walks layers with it too, so its order is the archive's by construction.
 * Metadata calls are synchronous — about 5x faster than the promise API for trees of small files.
 */
export function* walkArchiveOrder<S extends { isDirectory(): boolean }>(
  root: Buffer,
  lstatOf: (path: Buffer) => S,
): Generator<{ path: Buffer; st: S }, void, undefined> {
  const stack: Frame[] = [];
  let path = root;
  for (;;) {
    const st = lstatOf(path);
    if (st.isDirectory()) stack.push({ dir: path, names: sortedNames(path), next: 0 });
    yield { path, st };
    let top = stack.at(-1);
    while (top && top.next >= top.names.length) {
      stack.pop();
      top = stack.at(-1);
    }
    if (!top) return;
    path = joinPath(top.dir, top.names[top.next]!);
    top.next++;
  }
}

/**
 * Walks `root` in archive order ({@link walkArchiveOrder}) and yields each entry owned by `owner`;
 * sockets are skipped. The tar writer consumes it and yields to the event loop every few milliseconds.
 */
export function* walkEntries(root: Buffer, owner: Owner): Generator<TarEntry, void, undefined> {
  for (const { path, st } of walkArchiveOrder(root, (p) => lstatSync(p))) {
    if (st.isDirectory()) {
      yield { name: path, type: "dir", mode: st.mode & 0o7777, uid: owner.uid, gid: owner.gid };
    } else {
      const e = fsEntry(path, st, owner);
      if (e) yield e;
    }
  }
}
