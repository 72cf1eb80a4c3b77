// How processes sharing a volume cache directory stay out of each other's way (contract §5.3 plus
// issue 11): one lock file, `<dir>/commit.lock` (util/file-lock.ts), taken
//   - to open the cache: crash recovery (volume-cache-recovery.ts), then Go's reset of staging/;
//   - from a process's first write until its commit (or close): staging/ has one writer at a time
//     and commits are serialised, so concurrent exports behave as if run one after the other (the
//     last commit wins, whole). A writer starts from an empty staging/ when it gets the lock, and
//     the layers it reuses are linked from the committed/ it then sees, so its metadata never names
//     a tar its staging/ lacks;
//   - to read while committed/ is missing: another process is between its commit's two renames
//     (wait for it) or died there (recover).
import { lstat, mkdir, rm } from "node:fs/promises";
import { FileLock } from "../util/file-lock.js";
import { recoverInterruptedCommit, type VolumeCacheDirs } from "./volume-cache-recovery.js";
import { goFsMessage } from "./volume-errors.js";

/** Options of the cache lock. */
export interface VolumeCacheLockOptions {
  /** How long to wait for another process's lock (default 10 minutes). */
  readonly lockTimeoutMs?: number;
  /** When a lock whose owner cannot be checked (another container) counts as stale (default 30 s). */
  readonly staleLockMs?: number;
}

/** The lock and recovery side of one open volume cache. */
export class VolumeCacheGuard {
  private writing: Promise<FileLock> | undefined;
  private readonly notes: string[] = [];

  constructor(
    private readonly dirs: VolumeCacheDirs,
    private readonly lockPath: string,
    private readonly options: VolumeCacheLockOptions,
  ) {}

  /** Opening: under the lock, recover and reset staging/ (Go: recreated), committed-backup/ (deleted), committed/ (created). */
  async open(): Promise<void> {
    const lock = await this.lock();
    try {
      await this.recover();
      await this.resetStaging();
    } finally {
      await lock.release();
    }
  }

  /**
   * The lock for this run's writes: taken once, held until {@link endWriting}. On taking it the
   * cache is recovered and staging/ emptied (anything there belongs to a writer that died).
   */
  startWriting(): Promise<FileLock> {
    this.writing ??= (async () => {
      const lock = await this.lock();
      try {
        await this.recover();
        await this.resetStaging();
      } catch (err) {
        await lock.release();
        throw err;
      }
      return lock;
    })();
    const writing = this.writing;
    writing.catch(() => {
      if (this.writing === writing) this.writing = undefined;
    });
    return writing;
  }

  /** Releases the write lock, if taken. */
  async endWriting(): Promise<void> {
    const writing = this.writing;
    this.writing = undefined;
    if (writing) await (await writing).release();
  }

  /** Before a read: when committed/ is missing, waits for the commit in progress (or recovers a crashed one). */
  async settle(): Promise<void> {
    if (this.writing !== undefined || (await isDirectory(this.dirs.committedDir))) return;
    const lock = await this.lock();
    try {
      await this.recover();
    } finally {
      await lock.release();
    }
  }

  /** What had to be repaired (and stale locks removed), as sentences for the log; each is returned once. */
  takeNotices(): string[] {
    return this.notes.splice(0);
  }

  private lock(): Promise<FileLock> {
    return FileLock.acquire(this.lockPath, {
      timeoutMs: this.options.lockTimeoutMs,
      staleAfterMs: this.options.staleLockMs,
      onStale: (owner) => this.notes.push(`Removed a stale cache lock left by ${owner ? `pid ${owner.pid} on ${owner.host}` : "an unknown process"}`),
    });
  }

  private async recover(): Promise<void> {
    try {
      this.notes.push(...(await recoverInterruptedCommit(this.dirs)));
    } catch (err) {
      throw new Error(`recovering interrupted commit: ${goFsMessage(err)}`, { cause: err });
    }
  }

  private async resetStaging(): Promise<void> {
    const { stagingDir, backupDir, committedDir } = this.dirs;
    await step(`initializing staging directory '${stagingDir}'`, async () => {
      await rm(stagingDir, { recursive: true, force: true });
      await mkdir(stagingDir, { recursive: true, mode: 0o777 });
    });
    await step(`removing backup directory '${backupDir}'`, () => rm(backupDir, { recursive: true, force: true }));
    await step(`creating committed directory '${committedDir}'`, () => mkdir(committedDir, { recursive: true, mode: 0o777 }));
  }
}

/** Whether `path` is a directory (not following a symlink). */
export async function isDirectory(path: string): Promise<boolean> {
  return lstat(path).then(
    (st) => st.isDirectory(),
    () => false,
  );
}

/** Runs `fn`, prefixing a failure's message with `what` (Go's errors.Wrap). */
export async function step(what: string, fn: () => Promise<unknown>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    throw new Error(`${what}: ${goFsMessage(err)}`, { cause: err });
  }
}
