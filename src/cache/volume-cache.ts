// The volume cache (`-cache-dir`, also the launch cache's format), contract §5.3:
//
//   <dir>/committed/io.buildpacks.lifecycle.cache.metadata   JSON + "\n"
//   <dir>/committed/sha256:<hex>.tar                         uncompressed layer tar, named by diffID
//   <dir>/staging/                                           this run's cache, renamed to committed/ on commit
//   <dir>/committed-backup/                                  transient during commit
//   <dir>/commit.lock                                        held while a process writes staging/ or commits
//
// Layer files enter staging under a temp name and are renamed into place only when complete, so a
// failed add never leaves a partial `<diffID>.tar` that a later commit would publish.
//
// Processes sharing the directory coordinate through `commit.lock` (volume-cache-guard.ts); a
// commit interrupted by a crash is repaired by the next open (volume-cache-recovery.ts). Cache
// files are opened without following symlinks and only regular files are read (a FIFO or a link
// to /dev/zero would block or never end).
import { createHash, randomBytes } from "node:crypto";
import { constants, createWriteStream } from "node:fs";
import { copyFile, link, lstat, rename, rm, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { writeFileAtomic } from "../util/atomic-write.js";
import { NotRegularFileError, openRegularFile, readRegularFile } from "../util/regular-file.js";
import { isDirectory, step, VolumeCacheGuard, type VolumeCacheLockOptions } from "./volume-cache-guard.js";
import { errnoCode } from "../util/fs-errors.js";
import { checkReadDiffID, CacheReadError, goFsMessage, readOrOther } from "./volume-errors.js";
import { isSha256Digest } from "../oci/digest.js";

export { CacheReadError, isCacheReadError } from "./volume-errors.js";

/** Name of the metadata file inside `committed/` and `staging/` (same as the cache image label). */
export const CACHE_METADATA_FILE = "io.buildpacks.lifecycle.cache.metadata";

/** How {@link VolumeCache.addLayerFile} brings a tar into staging. */
export type LayerFileTransfer =
  /** Copy the file (reflink where the filesystem supports it); the source is untouched. */
  | "copy"
  /** Hard-link when possible (same filesystem), else copy; the caller must not modify the source afterwards. */
  | "link"
  /** Rename when possible (same filesystem), else copy and delete the source. */
  | "move";

/** Name of the lock file in the cache directory. */
export const CACHE_LOCK_FILE = "commit.lock";

const READ_CHUNK = 1024 * 1024;

/** Options of {@link VolumeCache.open}. */
export type VolumeCacheOptions = VolumeCacheLockOptions;

/** A cache kept in a directory shared between builds. */
export class VolumeCache {
  readonly dir: string;
  readonly committedDir: string;
  readonly stagingDir: string;
  readonly backupDir: string;
  readonly lockPath: string;
  private committed = false;
  private readonly guard: VolumeCacheGuard;

  private constructor(dir: string, options: VolumeCacheOptions) {
    this.dir = dir;
    this.committedDir = join(dir, "committed");
    this.stagingDir = join(dir, "staging");
    this.backupDir = join(dir, "committed-backup");
    this.lockPath = join(dir, CACHE_LOCK_FILE);
    const dirs = { committedDir: this.committedDir, stagingDir: this.stagingDir, backupDir: this.backupDir, metadataFile: CACHE_METADATA_FILE };
    this.guard = new VolumeCacheGuard(dirs, this.lockPath, options);
  }

  /**
   * Opens the cache in an existing directory, under the lock: recovers from an interrupted commit
   * (see {@link takeNotices}), recreates `staging/`, deletes `committed-backup/`, creates
   * `committed/`. Fails when `dir` does not exist (the phase reports
   * `failed to create volume cache: <message>`, exit 1).
   */
  static async open(dir: string, options: VolumeCacheOptions = {}): Promise<VolumeCache> {
    try {
      await stat(dir);
    } catch (err) {
      throw new Error(goFsMessage(err), { cause: err });
    }
    const cache = new VolumeCache(dir, options);
    await cache.guard.open();
    return cache;
  }

  /** What opening (or later locking) had to repair, as sentences for the log; each is returned once. */
  takeNotices(): string[] {
    return this.guard.takeNotices();
  }

  /** Ends this run's use of the cache without committing: releases the lock a write took. */
  close(): Promise<void> {
    return this.guard.endWriting();
  }

  /** The cache's name in log messages (its directory). */
  name(): string {
    return this.dir;
  }

  /** Whether a committed cache exists (`committed/` is there, once any commit in progress is over). */
  async exists(): Promise<boolean> {
    await this.guard.settle();
    return isDirectory(this.committedDir);
  }

  /** The committed metadata file's text; undefined when absent, unreadable or not a regular file (never an error). */
  async retrieveMetadataText(): Promise<string | undefined> {
    await this.guard.settle();
    try {
      return (await readRegularFile(join(this.committedDir, CACHE_METADATA_FILE))).toString("utf8");
    } catch {
      return undefined;
    }
  }

  /** The committed metadata as parsed JSON; `{}` when absent, unreadable or not JSON (never an error). */
  async retrieveMetadata(): Promise<unknown> {
    try {
      return JSON.parse((await this.retrieveMetadataText()) ?? "{}") as unknown;
    } catch {
      return {};
    }
  }

  /**
   * Writes the metadata for the next commit into `staging/`, atomically. A string is taken as
   * already-serialised JSON (e.g. from goJsonMarshal); anything else is JSON.stringify'd. A trailing
   * newline is added like Go's json.Encoder.
   */
  async setMetadata(metadata: unknown): Promise<void> {
    this.assertWritable();
    const text = typeof metadata === "string" ? metadata : JSON.stringify(metadata);
    try {
      JSON.parse(text);
    } catch (err) {
      throw new Error(`marshalling metadata: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    await this.guard.startWriting();
    const path = join(this.stagingDir, CACHE_METADATA_FILE);
    await step(`creating metadata file '${path}'`, () => writeFileAtomic(path, text.endsWith("\n") ? text : `${text}\n`));
  }

  /** Puts a layer tar into staging as `<diffID>.tar` unless it is already there. */
  async addLayerFile(tarPath: string, diffID: string, opts: { transfer?: LayerFileTransfer } = {}): Promise<void> {
    this.assertWritable();
    const dest = this.layerPath(this.stagingDir, checkDiffID(diffID));
    await this.guard.startWriting();
    if (await pathExists(dest)) return;
    await step(`caching layer (${diffID})`, async () => {
      const transfer = opts.transfer ?? "copy";
      if (transfer === "link" && (await attempt(() => link(tarPath, dest)))) return;
      if (transfer === "move" && (await attempt(() => rename(tarPath, dest)))) return;
      const temp = this.tempPath();
      try {
        await copyFile(tarPath, temp, constants.COPYFILE_FICLONE);
        await rename(temp, dest);
      } catch (err) {
        await rm(temp, { force: true });
        throw err;
      }
      if (transfer === "move") await unlink(tarPath);
    });
  }

  /**
   * Writes a layer stream into staging while hashing it; fails (keeping nothing) when the bytes do
   * not hash to `diffID`. If the layer is already staged the stream is destroyed unread.
   */
  async addLayerStream(input: Readable, diffID: string): Promise<void> {
    this.assertWritable();
    const dest = this.layerPath(this.stagingDir, checkDiffID(diffID));
    await this.guard.startWriting().catch((err: unknown) => {
      input.destroy();
      throw err;
    });
    if (await pathExists(dest)) {
      input.destroy();
      return;
    }
    const temp = this.tempPath();
    const hash = createHash("sha256");
    try {
      await pipeline(
        input,
        async function* (source: AsyncIterable<Buffer>) {
          for await (const chunk of source) {
            hash.update(chunk);
            yield chunk;
          }
        },
        createWriteStream(temp, { flags: "wx" }),
      );
      const found = `sha256:${hash.digest("hex")}`;
      if (found !== diffID) throw new Error(`expected layer contents to have SHA '${diffID}'; found '${found}'`);
      await rename(temp, dest);
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
  }

  /** Carries a committed layer over into staging (hard link); a missing committed tar is a read error. */
  async reuseLayer(diffID: string): Promise<void> {
    this.assertWritable();
    const source = this.layerPath(this.committedDir, checkReadDiffID(diffID));
    await this.guard.startWriting();
    await this.regularLayerFile(source, diffID, `failed to re-use cache layer with SHA '${diffID}'`);
    try {
      await link(source, this.layerPath(this.stagingDir, diffID));
    } catch (err) {
      if (errnoCode(err) !== "EEXIST") throw new Error(`reusing layer (${diffID}): ${goFsMessage(err)}`, { cause: err });
    }
  }

  /** Whether the committed cache holds the layer (as a regular file). */
  async hasLayer(diffID: string): Promise<boolean> {
    if (!isSha256Digest(diffID)) return false;
    try {
      return (await lstat(this.layerPath(this.committedDir, diffID))).isFile();
    } catch (err) {
      if (errnoCode(err) === "ENOENT") return false;
      throw new Error(`retrieving layer with SHA '${diffID}': ${goFsMessage(err)}`, { cause: err });
    }
  }

  /** Path of a committed layer tar; a missing one (or one that is not a regular file) is a read error. */
  async retrieveLayerFile(diffID: string): Promise<string> {
    const path = this.layerPath(this.committedDir, checkReadDiffID(diffID));
    await this.regularLayerFile(path, diffID, `retrieving layer with SHA '${diffID}'`);
    return path;
  }

  /**
   * Opens a committed layer as an uncompressed tar stream, without following a symlink; a missing
   * or unreadable file, or anything but a regular file (a FIFO, a device), is a read error.
   */
  async retrieveLayer(diffID: string): Promise<Readable> {
    const path = this.layerPath(this.committedDir, checkReadDiffID(diffID));
    try {
      const handle = await this.openCommitted(path);
      return handle.createReadStream({ highWaterMark: READ_CHUNK });
    } catch (err) {
      throw readOrOther(err, diffID, `failed to get cache layer with SHA '${diffID}'`);
    }
  }

  /** Where the committed tar of a layer is (or would be). */
  committedLayerPath(diffID: string): string {
    return this.layerPath(this.committedDir, diffID);
  }

  /** Re-hashes a committed layer; any mismatch, missing file or read failure is a read error. */
  async verifyLayer(diffID: string): Promise<void> {
    let stream: Readable;
    try {
      stream = await this.retrieveLayer(diffID);
    } catch (err) {
      // Go's wording for every retrieve failure, plus why when the file is not a regular file
      const why = err instanceof Error && err.cause instanceof NotRegularFileError ? `: ${err.cause.message}` : "";
      throw new CacheReadError(`failed to find cache layer with SHA '${diffID}'${why}`, { cause: err });
    }
    const hash = createHash("sha256");
    try {
      for await (const chunk of stream) hash.update(chunk as Buffer);
    } catch (err) {
      throw new CacheReadError(`failed to read cache layer with SHA '${diffID}': ${goFsMessage(err)}`, { cause: err });
    }
    const found = `sha256:${hash.digest("hex")}`;
    if (found !== diffID) {
      throw new CacheReadError(`expected layer contents to have SHA '${diffID}'; found '${found}'`);
    }
  }

  /**
   * Replaces the committed cache with staging, under the lock: committed → committed-backup,
   * staging → committed (on failure the backup is renamed back), then the backup is deleted; the
   * lock is released. A crash at any point is repaired by the next open (volume-cache-recovery.ts).
   * Only once per cache.
   */
  async commit(): Promise<void> {
    this.assertWritable();
    this.committed = true;
    await this.guard.startWriting();
    try {
      await step("backing up cache", () => rename(this.committedDir, this.backupDir));
      try {
        await rename(this.stagingDir, this.committedDir);
      } catch (commitErr) {
        try {
          await rename(this.backupDir, this.committedDir);
        } catch (rollbackErr) {
          // The previous cache stays in committed-backup/; the next open() puts it back.
          throw new Error(`rolling back cache: ${goFsMessage(rollbackErr)}`, { cause: rollbackErr });
        }
        throw new Error(`committing cache: ${goFsMessage(commitErr)}`, { cause: commitErr });
      }
      await rm(this.backupDir, { recursive: true, force: true });
    } finally {
      await this.guard.endWriting();
    }
  }

  /** Opens a committed file; when committed/ is briefly missing (a commit elsewhere), once more after settling. */
  private async openCommitted(path: string) {
    try {
      return await openRegularFile(path);
    } catch (err) {
      if (errnoCode(err) !== "ENOENT" || (await isDirectory(this.committedDir))) throw err;
      await this.guard.settle();
      return openRegularFile(path);
    }
  }

  /** Checks that a committed layer file is a regular file (lstat: a symlink is not followed). */
  private async regularLayerFile(path: string, diffID: string, otherwise: string): Promise<void> {
    let st;
    try {
      st = await lstat(path);
    } catch (err) {
      throw readOrOther(err, diffID, otherwise);
    }
    if (!st.isFile()) throw readOrOther(new NotRegularFileError(path, st.isSymbolicLink() ? "a symbolic link" : "not a regular file"), diffID, otherwise);
  }

  private assertWritable(): void {
    if (this.committed) throw new Error("cache cannot be modified after commit");
  }

  private layerPath(dir: string, diffID: string): string {
    return join(dir, `${diffID}.tar`);
  }

  private tempPath(): string {
    return join(this.stagingDir, `.layer-${randomBytes(8).toString("hex")}.tmp`);
  }
}

function checkDiffID(diffID: string): string {
  if (!isSha256Digest(diffID)) throw new Error(`invalid layer diffID '${diffID}'`);
  return diffID;
}

/** Runs a fast path; false when it failed for a reason a copy can work around (EXDEV, EPERM, …). */
async function attempt(fn: () => Promise<void>): Promise<boolean> {
  try {
    await fn();
    return true;
  } catch (err) {
    const code = errnoCode(err);
    if (code === "EEXIST") return true;
    if (code === "ENOENT" || code === "EACCES") throw err;
    return false;
  }
}

async function pathExists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
