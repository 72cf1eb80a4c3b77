// Directories under the layers directory that the phases write into (`<layers>/<bp>`): reached
// one component at a time, so that a symlink planted in the layers directory (say `<layers>/<bp>`
// → `/etc`) is never followed out of it, and missing directories are never created outside it.
// Files are then written into the directory's real path by rename (which replaces a symlink in the
// last component instead of following it), see writeFileAtomic.
import { lstat, mkdir, realpath, stat } from "node:fs/promises";
import { isAbsolute, join, relative, sep } from "node:path";
import { errnoCode, lstatOrUndefined } from "../util/fs-errors.js";

/** A write under the layers directory would leave it (through a symlink) or is not a directory. */
export class ConfinementError extends Error {
  override name = "ConfinementError";
}

/** Options of {@link confinedDir}. */
export interface ConfinedDirOptions {
  /** Create missing directories (like `mkdir -p`, mode 0777 minus the umask). */
  readonly create: boolean;
}

/**
 * The real path of `dir`, a directory at or below `root`, reached without leaving `root`: symlinks
 * on the way must resolve inside `root`'s real path, everything on the way must be a directory.
 * Missing directories are created when asked, else the result is undefined. Throws a
 * {@link ConfinementError} naming the offending path otherwise.
 */
export async function confinedDir(root: string, dir: string, opts: ConfinedDirOptions): Promise<string | undefined> {
  const rel = relative(root, dir);
  if (rel === ".." || rel.startsWith(`..${sep}`) || isAbsolute(rel)) throw new ConfinementError(`${quote(dir)} is not inside ${quote(root)}`);
  if (opts.create) await mkdir(root, { recursive: true, mode: 0o777 });
  let realRoot: string;
  try {
    realRoot = await realpath(root);
  } catch (err) {
    if (errnoCode(err) === "ENOENT" && !opts.create) return undefined;
    throw err;
  }
  let current = realRoot;
  let lexical = root;
  for (const part of rel.split(sep).filter((p) => p !== "")) {
    lexical = join(lexical, part);
    const next = join(current, part);
    let st = await lstatOrUndefined(next);
    if (st === undefined) {
      if (!opts.create) return undefined;
      await mkdir(next, { mode: 0o777 }).catch((err: unknown) => {
        if (errnoCode(err) !== "EEXIST") throw err;
      });
      st = await lstat(next);
    }
    current = next;
    if (st.isSymbolicLink()) {
      current = await resolveInside(lexical, next, realRoot, root);
      st = await stat(current);
    }
    if (!st.isDirectory()) throw new ConfinementError(`${quote(lexical)} is not a directory`);
  }
  return current;
}

async function resolveInside(lexical: string, path: string, realRoot: string, root: string): Promise<string> {
  let target: string;
  try {
    target = await realpath(path);
  } catch {
    throw new ConfinementError(`${quote(lexical)} is a symlink that does not resolve`);
  }
  if (target !== realRoot && realRoot !== sep && !target.startsWith(realRoot + sep)) {
    throw new ConfinementError(`${quote(lexical)} is a symlink to ${quote(target)}, outside the layers directory ${quote(root)}`);
  }
  return target;
}

function quote(path: string): string {
  return JSON.stringify(path);
}
