// Applies checked tar entries to the filesystem and remembers everything it creates, so that a
// failed extraction can be undone exactly (see extract.ts for the strategy).
import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import {
  chmod, lchown, lstat, lutimes, mkdir, open, rename, rmdir, stat, symlink, unlink, utimes,
} from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import type { Stats } from "node:fs";
import { errnoCode, lstatOrUndefined } from "../util/fs-errors.js";
import { basename, dirname, join, posix } from "node:path";
import { ExtractError, quoteName, refuse } from "./extract-error.js";
import { checkEntryName, isAncestorOrSelf, isInside, symlinkTargetProblem } from "./extract-paths.js";

const WRITE_BATCH = 1024 * 1024;
const OPEN_NEW = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/** What the writer needs to know about one tar entry. */
export interface EntryHeader {
  name: string;
  type: string | null | undefined;
  mode?: number | undefined;
  mtime?: Date | undefined;
  linkname?: string | null | undefined;
}

/** Resolved settings shared by every entry of one extraction. */
export interface WriterSettings {
  /** Host directory the archive's `/` maps to, resolved, without a trailing slash unless it is `/`. */
  root: string;
  allowedPrefix: string;
  symlinkScope: string;
  /** Owner to apply, already reduced to undefined when not running as root. */
  owner: { uid: number; gid: number } | undefined;
  restoreMtimes: boolean;
}

/** Marks an error raised by the entry's data stream (input, gunzip or tar parser), not by the filesystem. */
export class SourceFailure extends Error {
  constructor(readonly original: unknown) {
    super("layer stream failed", { cause: original });
  }
}

/** Writes entries under the root and can undo them. */
export class LayerWriter {
  entries = 0;
  private readonly created: string[] = [];
  private readonly createdSet = new Set<string>();
  private readonly safeDirs = new Set<string>();
  private readonly dirModes = new Map<string, { mode: number; mtime: Date | undefined }>();
  private readonly pending = new Map<string, string>();
  private finishing = false;

  constructor(private readonly s: WriterSettings) {}

  /** Checks and writes one entry; `data` must be drained or an error thrown. */
  async write(header: EntryHeader, data: AsyncIterable<unknown>): Promise<void> {
    const isDir = header.type === "directory";
    const name = checkEntryName(header.name, isDir);
    this.entries++;
    try {
      if (header.type === "link") throw refuse("UNSUPPORTED_TYPE", name, "hard links are not supported");
      if (header.type !== "file" && !isDir && header.type !== "symlink") {
        throw refuse("UNSUPPORTED_TYPE", name, `unsupported entry type ${JSON.stringify(header.type ?? "unknown")}`);
      }
      if (!isInside(name, this.s.allowedPrefix) && !(isDir && isAncestorOrSelf(name, this.s.allowedPrefix))) {
        throw refuse("OUTSIDE_PREFIX", name, `outside the allowed directory ${quoteName(this.s.allowedPrefix)}`);
      }
      if (header.type === "file") {
        await this.writeFile(name, header, data);
        return;
      }
      if (isDir) await this.writeDirectory(name, header);
      else await this.writeSymlink(name, header.linkname ?? "", header.mtime);
      await drain(data);
    } catch (err) {
      if (err instanceof ExtractError || err instanceof SourceFailure) throw err;
      throw new ExtractError("FS", `failed to extract ${quoteName(name)}: ${describe(err)}`, { entry: name, cause: err });
    }
  }

  /** Moves replaced files into place, then applies modes (deepest first) and mtimes of created directories. */
  async finish(): Promise<void> {
    this.finishing = true;
    for (const [finalPath, tempPath] of this.pending) await rename(tempPath, finalPath);
    this.pending.clear();
    const dirs = [...this.dirModes.entries()].reverse();
    for (const [path, { mode }] of dirs) await chmod(path, mode);
    if (this.s.restoreMtimes) {
      for (const [path, { mtime }] of dirs) if (mtime) await utimes(path, mtime, mtime);
    }
  }

  /** Removes everything this writer created, newest first; directories only when empty. */
  async rollback(): Promise<void> {
    let firstError: Error | undefined;
    if (this.finishing) {
      for (const path of this.dirModes.keys()) await chmod(path, 0o700).catch(() => undefined);
    }
    for (let i = this.created.length - 1; i >= 0; i--) {
      const path = this.created[i] as string;
      try {
        const st = await lstat(path);
        if (st.isDirectory()) await rmdir(path);
        else await unlink(path);
      } catch (err) {
        const code = errnoCode(err);
        if (code === "ENOENT" || code === "ENOTEMPTY" || code === "EEXIST") continue;
        firstError ??= err instanceof Error ? err : new Error(describe(err));
      }
    }
    if (firstError !== undefined) throw firstError;
  }

  private host(name: string): string {
    if (name === "/") return this.s.root;
    return this.s.root === "/" ? name : this.s.root + name;
  }

  private track(path: string): void {
    if (this.createdSet.has(path)) return;
    this.createdSet.add(path);
    this.created.push(path);
  }

  /** Makes sure `dir` and its ancestors are real directories, creating missing ones (0777 minus umask). */
  private async ensureDirectory(dir: string, entry: string): Promise<void> {
    const chain: string[] = [];
    for (let d = dir; d !== "/" && !this.safeDirs.has(d); d = posix.dirname(d)) chain.push(d);
    for (const d of chain.reverse()) {
      const path = this.host(d);
      let st = await lstatOrUndefined(path);
      if (st === undefined) {
        if (await this.mkdirTracked(path)) {
          this.safeDirs.add(d);
          continue;
        }
        st = await lstat(path);
      }
      await this.checkExistingDirectory(d, st, entry);
      this.safeDirs.add(d);
    }
  }

  /** Accepts a real directory, or a symlink to one at or above the allowed prefix (set up by the platform). */
  private async checkExistingDirectory(dir: string, st: Stats, entry: string): Promise<void> {
    if (st.isDirectory()) return;
    if (st.isSymbolicLink()) {
      if (!isAncestorOrSelf(dir, this.s.allowedPrefix)) {
        throw refuse("THROUGH_SYMLINK", entry, `${quoteName(dir)} is a symlink`);
      }
      if ((await stat(this.host(dir))).isDirectory()) return;
    }
    throw refuse("EXISTS", entry, `${quoteName(dir)} exists and is not a directory`);
  }

  /** mkdir that records the new directory; false when something appeared there first. */
  private async mkdirTracked(path: string): Promise<boolean> {
    try {
      await mkdir(path, 0o777);
    } catch (err) {
      if (errnoCode(err) === "EEXIST") return false;
      throw err;
    }
    this.track(path);
    if (this.s.owner) await lchown(path, this.s.owner.uid, this.s.owner.gid);
    return true;
  }

  private async writeDirectory(name: string, header: EntryHeader): Promise<void> {
    const mode = (header.mode ?? 0o755) & 0o7777;
    if (name === "/") return;
    await this.ensureDirectory(posix.dirname(name), name);
    const path = this.host(name);
    if (!this.safeDirs.has(name)) {
      const st = await lstatOrUndefined(path);
      if (st === undefined && (await this.mkdirTracked(path))) {
        this.safeDirs.add(name);
      } else {
        await this.checkExistingDirectory(name, st ?? (await lstat(path)), name);
        this.safeDirs.add(name);
      }
    }
    // Directories that existed before are left alone; ours get their tar mode at the end.
    if (this.createdSet.has(path)) this.dirModes.set(path, { mode, mtime: header.mtime });
  }

  private async writeSymlink(name: string, target: string, mtime: Date | undefined): Promise<void> {
    const problem = symlinkTargetProblem(name, target, this.s.symlinkScope);
    if (problem !== undefined) throw refuse("UNSAFE_SYMLINK", name, problem);
    await this.ensureDirectory(posix.dirname(name), name);
    const path = this.host(name);
    try {
      await symlink(target, path);
    } catch (err) {
      if (errnoCode(err) === "EEXIST") throw refuse("EXISTS", name, "a file already exists at the symlink's path");
      throw err;
    }
    this.track(path);
    if (this.s.owner) await lchown(path, this.s.owner.uid, this.s.owner.gid);
    if (this.s.restoreMtimes && mtime) await lutimes(path, mtime, mtime);
  }

  /**
   * New files are created in place. A file this extraction created earlier is replaced. A file
   * that existed before is written to a temp sibling and renamed over it only in finish(), so a
   * failed extraction leaves pre-existing files untouched (and never writes through a symlink).
   */
  private async writeFile(name: string, header: EntryHeader, data: AsyncIterable<unknown>): Promise<void> {
    await this.ensureDirectory(posix.dirname(name), name);
    const path = this.host(name);
    let target = path;
    const st = await lstatOrUndefined(path);
    if (st?.isDirectory()) throw refuse("EXISTS", name, "a directory already exists at the file's path");
    if (st !== undefined && this.createdSet.has(path)) {
      await unlink(path);
    } else if (st !== undefined) {
      const previous = this.pending.get(path);
      if (previous !== undefined) await unlink(previous);
      target = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.extracting`);
      this.pending.set(path, target);
    }
    const handle = await open(target, OPEN_NEW, 0o600);
    this.track(target);
    try {
      await copyData(data, handle);
      if (this.s.owner) await handle.chown(this.s.owner.uid, this.s.owner.gid);
      await handle.chmod((header.mode ?? 0o644) & 0o7777);
      if (this.s.restoreMtimes && header.mtime) await handle.utimes(header.mtime, header.mtime);
    } finally {
      await handle.close();
    }
  }
}

/** Streams entry data into the file in batches of up to 1 MiB (one writev per batch). */
async function copyData(data: AsyncIterable<unknown>, handle: FileHandle): Promise<void> {
  const iterator = data[Symbol.asyncIterator]();
  const batch: Buffer[] = [];
  let batched = 0;
  for (;;) {
    let step: IteratorResult<unknown>;
    try {
      step = await iterator.next();
    } catch (err) {
      throw new SourceFailure(err);
    }
    if (step.done === true) break;
    const chunk = step.value as Buffer;
    batch.push(chunk);
    batched += chunk.length;
    if (batched >= WRITE_BATCH) {
      await writeAll(handle, batch);
      batch.length = 0;
      batched = 0;
    }
  }
  if (batched > 0) await writeAll(handle, batch);
}

async function writeAll(handle: FileHandle, buffers: Buffer[]): Promise<void> {
  let rest = buffers;
  while (rest.length > 0) {
    let { bytesWritten } = await handle.writev(rest);
    const next: Buffer[] = [];
    for (const buf of rest) {
      if (bytesWritten >= buf.length) {
        bytesWritten -= buf.length;
      } else {
        next.push(bytesWritten > 0 ? buf.subarray(bytesWritten) : buf);
        bytesWritten = 0;
      }
    }
    rest = next;
  }
}

async function drain(data: AsyncIterable<unknown>): Promise<void> {
  try {
    for await (const _ of data) {
      // directory and symlink entries carry no data worth keeping
    }
  } catch (err) {
    throw new SourceFailure(err);
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
