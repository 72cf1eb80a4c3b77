// The volume cache (`-cache-dir`, also the launch cache's format), contract §5.3:
//
//   <dir>/committed/io.buildpacks.lifecycle.cache.metadata   JSON + "\n"
//   <dir>/committed/sha256:<hex>.tar                         uncompressed layer tar, named by diffID
//   <dir>/staging/                                           this run's cache, renamed to committed/ on commit
//   <dir>/committed-backup/                                  transient during commit
//
// Layer files enter staging under a temp name and are renamed into place only when complete, so a
// failed add never leaves a partial `<diffID>.tar` that a later commit would publish.
import { createHash, randomBytes } from "node:crypto";
import { constants, createWriteStream } from "node:fs";
import { copyFile, link, mkdir, open, readFile, rename, rm, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { writeFileAtomic } from "../util/atomic-write.js";
import { CacheReadError, errnoCode, goFsMessage } from "./volume-errors.js";

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

const DIFF_ID = /^sha256:[0-9a-f]{64}$/;
const READ_CHUNK = 1024 * 1024;

/** A cache kept in a directory shared between builds. */
export class VolumeCache {
  readonly dir: string;
  readonly committedDir: string;
  readonly stagingDir: string;
  readonly backupDir: string;
  private committed = false;

  private constructor(dir: string) {
    this.dir = dir;
    this.committedDir = join(dir, "committed");
    this.stagingDir = join(dir, "staging");
    this.backupDir = join(dir, "committed-backup");
  }

  /**
   * Opens the cache in an existing directory: recreates `staging/`, deletes `committed-backup/`,
   * creates `committed/`. Fails when `dir` does not exist (the phase reports
   * `failed to create volume cache: <message>`, exit 1).
   */
  static async open(dir: string): Promise<VolumeCache> {
    try {
      await stat(dir);
    } catch (err) {
      throw new Error(goFsMessage(err), { cause: err });
    }
    const cache = new VolumeCache(dir);
    await step(`initializing staging directory '${cache.stagingDir}'`, async () => {
      await rm(cache.stagingDir, { recursive: true, force: true });
      await mkdir(cache.stagingDir, { recursive: true, mode: 0o777 });
    });
    await step(`removing backup directory '${cache.backupDir}'`, () =>
      rm(cache.backupDir, { recursive: true, force: true }),
    );
    await step(`creating committed directory '${cache.committedDir}'`, () =>
      mkdir(cache.committedDir, { recursive: true, mode: 0o777 }),
    );
    return cache;
  }

  /** The cache's name in log messages (its directory). */
  name(): string {
    return this.dir;
  }

  /** Whether a committed cache exists (`committed/` is there). */
  async exists(): Promise<boolean> {
    try {
      await stat(this.committedDir);
      return true;
    } catch {
      return false;
    }
  }

  /** The committed metadata file's text; undefined when absent or unreadable (never an error). */
  async retrieveMetadataText(): Promise<string | undefined> {
    try {
      return await readFile(join(this.committedDir, CACHE_METADATA_FILE), "utf8");
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
    const path = join(this.stagingDir, CACHE_METADATA_FILE);
    await step(`creating metadata file '${path}'`, () => writeFileAtomic(path, text.endsWith("\n") ? text : `${text}\n`));
  }

  /** Puts a layer tar into staging as `<diffID>.tar` unless it is already there. */
  async addLayerFile(tarPath: string, diffID: string, opts: { transfer?: LayerFileTransfer } = {}): Promise<void> {
    this.assertWritable();
    const dest = this.layerPath(this.stagingDir, checkDiffID(diffID));
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
    try {
      await stat(source);
    } catch (err) {
      throw readOrOther(err, diffID, `failed to re-use cache layer with SHA '${diffID}'`);
    }
    try {
      await link(source, this.layerPath(this.stagingDir, diffID));
    } catch (err) {
      if (errnoCode(err) !== "EEXIST") throw new Error(`reusing layer (${diffID}): ${goFsMessage(err)}`, { cause: err });
    }
  }

  /** Whether the committed cache holds the layer. */
  async hasLayer(diffID: string): Promise<boolean> {
    if (!DIFF_ID.test(diffID)) return false;
    try {
      await stat(this.layerPath(this.committedDir, diffID));
      return true;
    } catch (err) {
      if (errnoCode(err) === "ENOENT") return false;
      throw new Error(`retrieving layer with SHA '${diffID}': ${goFsMessage(err)}`, { cause: err });
    }
  }

  /** Path of a committed layer tar; a missing one is a read error. */
  async retrieveLayerFile(diffID: string): Promise<string> {
    const path = this.layerPath(this.committedDir, checkReadDiffID(diffID));
    try {
      await stat(path);
    } catch (err) {
      throw readOrOther(err, diffID, `retrieving layer with SHA '${diffID}'`);
    }
    return path;
  }

  /** Opens a committed layer as an uncompressed tar stream; a missing or unreadable file is a read error. */
  async retrieveLayer(diffID: string): Promise<Readable> {
    const path = this.layerPath(this.committedDir, checkReadDiffID(diffID));
    try {
      const handle = await open(path, "r");
      return handle.createReadStream({ highWaterMark: READ_CHUNK });
    } catch (err) {
      throw readOrOther(err, diffID, `failed to get cache layer with SHA '${diffID}'`);
    }
  }

  /** Re-hashes a committed layer; any mismatch, missing file or read failure is a read error. */
  async verifyLayer(diffID: string): Promise<void> {
    let stream: Readable;
    try {
      stream = await this.retrieveLayer(diffID);
    } catch (err) {
      throw new CacheReadError(`failed to find cache layer with SHA '${diffID}'`, { cause: err });
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
   * Replaces the committed cache with staging: committed → committed-backup, staging → committed
   * (on failure the backup is renamed back), then the backup is deleted. Only once per cache.
   */
  async commit(): Promise<void> {
    this.assertWritable();
    this.committed = true;
    await step("backing up cache", () => rename(this.committedDir, this.backupDir));
    try {
      await rename(this.stagingDir, this.committedDir);
    } catch (commitErr) {
      try {
        await rename(this.backupDir, this.committedDir);
      } catch (rollbackErr) {
        // The previous cache stays in committed-backup/; the next open() would delete it, but it
        // is the only copy left, so it is not deleted here.
        throw new Error(`rolling back cache: ${goFsMessage(rollbackErr)}`, { cause: rollbackErr });
      }
      throw new Error(`committing cache: ${goFsMessage(commitErr)}`, { cause: commitErr });
    }
    await rm(this.backupDir, { recursive: true, force: true });
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
  if (!DIFF_ID.test(diffID)) throw new Error(`invalid layer diffID '${diffID}'`);
  return diffID;
}

/** Reading a layer under a malformed diffID (from metadata) is just a layer that cannot be found. */
function checkReadDiffID(diffID: string): string {
  if (!DIFF_ID.test(diffID)) throw new CacheReadError(`failed to find cache layer with SHA '${diffID}'`);
  return diffID;
}

/** Go's wording: missing → read error, permission → read error, anything else → a plain failure. */
function readOrOther(err: unknown, diffID: string, otherwise: string): Error {
  const code = errnoCode(err);
  if (code === "ENOENT" || code === "ENOTDIR") {
    return new CacheReadError(`failed to find cache layer with SHA '${diffID}'`, { cause: err });
  }
  if (code === "EACCES" || code === "EPERM") {
    return new CacheReadError(
      `failed to read cache layer with SHA '${diffID}' due to insufficient permissions`,
      { cause: err },
    );
  }
  return new Error(`${otherwise}: ${goFsMessage(err)}`, { cause: err });
}

/** Runs `fn`, prefixing a failure's message with `what` (Go's errors.Wrap). */
async function step(what: string, fn: () => Promise<unknown>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    throw new Error(`${what}: ${goFsMessage(err)}`, { cause: err });
  }
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
