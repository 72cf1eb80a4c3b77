// Which file a path is and whether it was touched: device, inode, size, mtime and ctime (ns).
import { createHash } from "node:crypto";
import { lstatSync, statSync } from "node:fs";
import { readRegularFile } from "../util/regular-file.js";

/** A file's identity and change stamps as the record keeps them (bigints as decimal strings). */
export interface FileIdentity {
  readonly path: string;
  readonly dev: string;
  readonly ino: string;
  readonly size: number;
  readonly mtime: string;
  readonly ctime: string;
}

/** The identity of the file at `path` (lstat); undefined when it cannot be stat'ed. */
export function fileIdentity(path: string): FileIdentity | undefined {
  try {
    const st = lstatSync(path, { bigint: true });
    if (!st.isFile()) return undefined;
    return { path, dev: String(st.dev), ino: String(st.ino), size: Number(st.size), mtime: String(st.mtimeNs), ctime: String(st.ctimeNs) };
  } catch {
    return undefined;
  }
}

/** Whether two identities are the same file, unchanged. */
export function sameIdentity(a: FileIdentity, b: FileIdentity): boolean {
  return a.path === b.path && a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtime === b.mtime && a.ctime === b.ctime;
}

/** A small file's identity plus the sha256 (hex) of its contents; undefined when it cannot be read. */
export async function fileIdentityWithHash(path: string): Promise<(FileIdentity & { readonly sha256: string }) | undefined> {
  const before = fileIdentity(path);
  if (!before) return undefined;
  let data: Buffer;
  try {
    data = await readRegularFile(path);
  } catch {
    return undefined;
  }
  const after = fileIdentity(path);
  if (!after || !sameIdentity(before, after)) return undefined;
  return { ...after, sha256: createHash("sha256").update(data).digest("hex") };
}

/** Device and inode of a directory (stat: a symlink to it is followed); undefined when it is not one. */
export function directoryIdentity(dir: string): { readonly dev: string; readonly ino: string } | undefined {
  try {
    const st = statSync(dir, { bigint: true });
    return st.isDirectory() ? { dev: String(st.dev), ino: String(st.ino) } : undefined;
  } catch {
    return undefined;
  }
}
