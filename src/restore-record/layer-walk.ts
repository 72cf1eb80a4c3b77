// Walking a layer directory the way the exporter tars it (the same walk as fs-entries.ts
// `walkEntries`: `walkArchiveOrder`), and the fingerprint the restore record keeps of each entry.
import { lstatSync, readlinkSync, type BigIntStats } from "node:fs";
import { walkArchiveOrder, type StatLike } from "../layers/fs-entries.js";

/** One entry of a walk: its path, its path relative to the walked root (bytes), its lstat. */
export interface WalkedEntry {
  readonly path: Buffer;
  readonly rel: Buffer;
  readonly st: BigIntStats;
}

/** The entries under `root` (itself first) in the exporter's archive order, lstat'ed with nanosecond times. */
export function* walkLayer(root: Buffer): Generator<WalkedEntry, void, undefined> {
  for (const { path, st } of walkArchiveOrder(root, (p) => lstatSync(p, { bigint: true }))) {
    yield { path, rel: path.subarray(Math.min(path.length, root.length + 1)), st };
  }
}

/**
 * What the record keeps of an entry: path relative to the layer (bytes as latin1, "" for the layer
 * itself), type, st_mode, uid, gid, size, link count, inode, device, mtime and ctime in nanoseconds,
 * symlink target (latin1; "" for other types).
 */
export type EntryPrint = [
  path: string,
  type: EntryType,
  mode: number,
  uid: number,
  gid: number,
  size: number,
  nlink: number,
  ino: string,
  dev: string,
  mtimeNs: string,
  ctimeNs: string,
  link: string,
];

/** Entry types in a print: file, directory, symlink, char/block device, fifo, socket. */
export const ENTRY_TYPES = ["f", "d", "l", "c", "b", "p", "s"] as const;
/** One of {@link ENTRY_TYPES}. */
export type EntryType = (typeof ENTRY_TYPES)[number];

/** Names of the print's fields, for messages. */
export const PRINT_FIELDS = ["path", "type", "mode", "uid", "gid", "size", "link count", "inode", "device", "mtime", "ctime", "link target"] as const;
/** Index of the ctime in a print. */
export const CTIME = 10;

const S_IFMT = 0o170000;
const TYPE_OF: Record<number, EntryType> = {
  0o100000: "f",
  0o040000: "d",
  0o120000: "l",
  0o020000: "c",
  0o060000: "b",
  0o010000: "p",
  0o140000: "s",
};

/** The print of a walked entry (reads a symlink's target; nothing else is read). */
export function printOf(e: WalkedEntry): EntryPrint {
  const mode = Number(e.st.mode);
  const type = TYPE_OF[mode & S_IFMT];
  if (type === undefined) throw new Error(`unknown file mode ${mode.toString(8)} for '${e.path.toString("utf8")}'`);
  const link = type === "l" ? readlinkSync(e.path, { encoding: "buffer" }).toString("latin1") : "";
  return [
    e.rel.toString("latin1"),
    type,
    mode,
    Number(e.st.uid),
    Number(e.st.gid),
    Number(e.st.size),
    Number(e.st.nlink),
    String(e.st.ino),
    String(e.st.dev),
    String(e.st.mtimeNs),
    String(e.st.ctimeNs),
    link,
  ];
}

/** The fields of a bigint lstat that a tar entry is built from. */
export function statLikeOf(st: BigIntStats): StatLike {
  return { mode: Number(st.mode), uid: Number(st.uid), gid: Number(st.gid), size: Number(st.size), rdev: Number(st.rdev) };
}

/** A latin1 byte-string path as text for messages ("." for the layer itself). */
export function showPath(rel: string): string {
  return rel === "" ? "." : Buffer.from(rel, "latin1").toString("utf8");
}
