import { lchown, lstat, readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { LifecycleError } from "./errors.js";
import { ExitCode } from "./exit-codes.js";

function isRoot(): boolean {
  return typeof process.getuid === "function" && process.getuid() === 0;
}

/** Whether `uid:gid` can already write `dir` (owner, group with g+w, or world-writable). */
function writableBy(st: { uid: number; gid: number; mode: number }, uid: number, gid: number): boolean {
  if (st.uid === uid && (st.mode & 0o200) !== 0) return true;
  if (st.gid === gid && (st.mode & 0o020) !== 0) return true;
  return (st.mode & 0o002) !== 0;
}

async function chownTree(path: string, uid: number, gid: number): Promise<void> {
  await lchown(path, uid, gid);
  const st = await lstat(path);
  if (!st.isDirectory()) return;
  for (const entry of await readdir(path)) await chownTree(join(path, entry), uid, gid);
}

/**
 * Makes `uid:gid` own each existing directory tree, unless it can already write the top directory
 * (Go lifecycle `priv.EnsureOwner`; contract §1.8 step 3). Only root can chown; others skip it.
 */
export async function ensureOwner(uid: number, gid: number, paths: readonly string[]): Promise<void> {
  if (!isRoot()) return;
  for (const p of paths) {
    if (p === "") continue;
    let st;
    try {
      st = await stat(p);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") continue;
      throw new LifecycleError(ExitCode.Failed, `failed to chown volumes: ${(err as Error).message}`);
    }
    if (writableBy(st, uid, gid)) continue;
    try {
      await chownTree(p, uid, gid);
    } catch (err) {
      throw new LifecycleError(ExitCode.Failed, `failed to chown volumes: ${(err as Error).message}`);
    }
  }
}

/** Switches the process to `uid:gid` (group first); a no-op when already running as them (contract §1.8 step 4). */
export function runAs(uid: number, gid: number): void {
  if (typeof process.geteuid !== "function" || typeof process.getegid !== "function") return;
  if (process.geteuid() === uid && process.getegid() === gid) return;
  try {
    process.setgid?.(gid);
    process.setuid?.(uid);
  } catch (err) {
    throw new LifecycleError(ExitCode.Failed, `failed to exec as user ${uid}:${gid}: ${(err as Error).message}`);
  }
}
