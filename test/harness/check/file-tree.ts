import { lstat, readdir, readlink } from "node:fs/promises";
import { join } from "node:path";

/** What `statTree` reports for one file system entry. */
export interface TreeEntry {
  type: "file" | "directory" | "symlink" | "other";
  /** Permission bits (mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  /** Modification time in whole seconds since the epoch. */
  mtime: number;
  size: number;
  /** Target of a symlink. */
  link?: string;
}

/** Every entry under `root` keyed by its relative path (`bin/sh`), for comparing unpacked images. */
export async function statTree(root: string): Promise<Map<string, TreeEntry>> {
  const out = new Map<string, TreeEntry>();
  const walk = async (relative: string): Promise<void> => {
    for (const name of (await readdir(join(root, relative))).sort()) {
      const path = relative === "" ? name : `${relative}/${name}`;
      const full = join(root, path);
      const stat = await lstat(full);
      const type = stat.isFile() ? "file" : stat.isDirectory() ? "directory" : stat.isSymbolicLink() ? "symlink" : "other";
      const entry: TreeEntry = {
        type,
        mode: stat.mode & 0o7777,
        uid: stat.uid,
        gid: stat.gid,
        mtime: Math.floor(stat.mtimeMs / 1000),
        size: stat.size,
      };
      if (type === "symlink") entry.link = await readlink(full);
      out.set(path, entry);
      if (type === "directory") await walk(path);
    }
  };
  await walk("");
  return out;
}
