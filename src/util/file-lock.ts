// An exclusive lock between processes (the volume cache's commit lock): a file created atomically
// with its owner's identity in it (written to a temp file, then hard-linked to the lock path, which
// fails when the lock exists). While held, its mtime is refreshed every few seconds.
//
// A lock is stale when its owner is known to be dead (same boot and PID namespace, see
// process-identity.ts), or, when that cannot be known (another container), when its mtime has not
// been refreshed for `staleAfterMs`. A stale lock is removed only by the holder of a second,
// short-lived "breaker" lock, after checking that the lock file is still the one judged stale, so
// two waiters never remove each other's fresh lock. Waiting polls with a growing delay: there is
// no portable cross-process notification in Node.
import { randomBytes } from "node:crypto";
import { unlinkSync, readFileSync } from "node:fs";
import { link, readFile, stat, unlink, utimes, writeFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { currentProcessIdentity, parseProcessIdentity, processState, type ProcessIdentity } from "./process-identity.js";

/** Options of {@link FileLock.acquire}. */
export interface FileLockOptions {
  /** Give up waiting after this long (default 10 minutes). */
  readonly timeoutMs?: number;
  /** A lock whose owner's liveness is unknown is stale once not refreshed for this long (default 30 s). */
  readonly staleAfterMs?: number;
  /** Called once when the lock is busy and the caller starts waiting. */
  readonly onWait?: (owner: ProcessIdentity | undefined) => void;
  /** Called for each stale lock removed. */
  readonly onStale?: (owner: ProcessIdentity | undefined) => void;
}

const HEARTBEAT_MS = 2_000;
const BREAKER_STALE_MS = 10_000;

/** A held lock; release it with {@link FileLock.release}. */
export class FileLock {
  private released = false;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly onExit = () => this.releaseSync();

  private constructor(
    readonly path: string,
    private readonly token: string,
  ) {
    this.heartbeat = setInterval(() => {
      const now = new Date();
      utimes(this.path, now, now).catch(() => undefined);
    }, HEARTBEAT_MS);
    this.heartbeat.unref();
    process.on("exit", this.onExit);
  }

  /** Takes the lock at `path`, waiting while another live process holds it and removing stale ones. */
  static async acquire(path: string, opts: FileLockOptions = {}): Promise<FileLock> {
    const timeoutMs = opts.timeoutMs ?? 600_000;
    const staleAfterMs = opts.staleAfterMs ?? 30_000;
    const deadline = Date.now() + timeoutMs;
    const self = currentProcessIdentity();
    const token = randomBytes(12).toString("hex");
    const content = `${JSON.stringify({ ...self, token })}\n`;
    let delay = 5;
    let waited = false;
    for (;;) {
      if (await tryCreate(path, content)) return new FileLock(path, token);
      const held = await readLock(path);
      if (held === undefined) continue; // released meanwhile
      if (isStale(held, self, staleAfterMs)) {
        if (await breakStale(path, held, self, staleAfterMs)) opts.onStale?.(held.owner);
        continue;
      }
      if (!waited) {
        waited = true;
        opts.onWait?.(held.owner);
      }
      if (Date.now() >= deadline) {
        const who = held.owner ? `pid ${held.owner.pid} on ${held.owner.host}` : "an unknown process";
        throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for the lock ${JSON.stringify(path)} held by ${who}`);
      }
      await sleep(delay);
      delay = Math.min(delay * 2, 250);
    }
  }

  /** Releases the lock (only if this process still holds it). */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    clearInterval(this.heartbeat);
    process.off("exit", this.onExit);
    try {
      if ((await readFile(this.path, "utf8")).includes(`"token":"${this.token}"`)) await unlink(this.path);
    } catch {
      // gone already
    }
  }

  /** Synchronous release, for process exit. */
  private releaseSync(): void {
    if (this.released) return;
    this.released = true;
    clearInterval(this.heartbeat);
    try {
      if (readFileSync(this.path, "utf8").includes(`"token":"${this.token}"`)) unlinkSync(this.path);
    } catch {
      // gone already
    }
  }
}

interface HeldLock {
  readonly owner: ProcessIdentity | undefined;
  readonly ino: number;
  readonly mtimeMs: number;
}

/**
 * Creates the lock file with its content in one step (link fails when the lock exists). Where hard
 * links are not supported, an exclusive create then a write (briefly empty: its owner is "unknown").
 */
async function tryCreate(path: string, content: string): Promise<boolean> {
  const temp = `${path}.${randomBytes(6).toString("hex")}.tmp`;
  await writeFile(temp, content, { flag: "wx" });
  try {
    await link(temp, path);
    return true;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === "EEXIST") return false;
    if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP" && code !== "EXDEV") throw err;
  } finally {
    await unlink(temp).catch(() => undefined);
  }
  try {
    await writeFile(path, content, { flag: "wx" });
    return true;
  } catch (err) {
    if ((err as { code?: unknown }).code === "EEXIST") return false;
    throw err;
  }
}

async function readLock(path: string): Promise<HeldLock | undefined> {
  try {
    const [text, st] = await Promise.all([readFile(path, "utf8"), stat(path)]);
    return { owner: parseProcessIdentity(text), ino: st.ino, mtimeMs: st.mtimeMs };
  } catch (err) {
    if ((err as { code?: unknown }).code === "ENOENT") return undefined;
    throw err;
  }
}

function isStale(held: HeldLock, self: ProcessIdentity, staleAfterMs: number): boolean {
  const state = held.owner ? processState(held.owner, self) : "unknown";
  if (state === "dead") return true;
  if (state === "alive") return false;
  return Date.now() - held.mtimeMs > staleAfterMs;
}

/** Removes the stale lock `held` under the breaker lock; false when someone else got there first. */
async function breakStale(path: string, held: HeldLock, self: ProcessIdentity, staleAfterMs: number): Promise<boolean> {
  const breaker = `${path}.break`;
  if (!(await tryCreate(breaker, `${JSON.stringify(self)}\n`))) {
    // a breaker killed while breaking would block everyone: it is stale after a few seconds
    const st = await stat(breaker).catch(() => undefined);
    if (st && Date.now() - st.mtimeMs > BREAKER_STALE_MS) await unlink(breaker).catch(() => undefined);
    else await sleep(5);
    return false;
  }
  try {
    const again = await readLock(path);
    if (again === undefined || again.ino !== held.ino || !isStale(again, self, staleAfterMs)) return false;
    await unlink(path);
    return true;
  } finally {
    await unlink(breaker).catch(() => undefined);
  }
}
