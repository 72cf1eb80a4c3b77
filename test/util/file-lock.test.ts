import { spawnSync } from "node:child_process";
import { mkdtemp, readdir, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FileLock } from "../../src/util/file-lock.js";
import { currentProcessIdentity, processState } from "../../src/util/process-identity.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "file-lock-"));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** The identity of a process that has exited (its PID is gone). */
function deadProcess() {
  const child = spawnSync(process.execPath, ["-e", 'process.stdout.write(require("fs").readFileSync("/proc/self/stat","utf8"))']);
  const stat = child.stdout.toString();
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { ...currentProcessIdentity(), pid: Number(stat.split(" ")[0]), start: fields[19] ?? "" };
}

describe("FileLock", () => {
  it("is exclusive within and across holders, and released cleanly", async () => {
    const path = join(dir, "a.lock");
    const first = await FileLock.acquire(path);
    await expect(FileLock.acquire(path, { timeoutMs: 100 })).rejects.toThrow(/timed out after 0 s waiting for the lock .* held by pid \d+/);
    await first.release();
    const second = await FileLock.acquire(path, { timeoutMs: 100 });
    await second.release();
    expect((await readdir(dir)).filter((f) => f.startsWith("a.lock"))).toEqual([]);
  });

  it("knows the current process is alive and an exited one is dead", () => {
    expect(processState(currentProcessIdentity())).toBe("alive");
    expect(processState(deadProcess())).toBe("dead");
    expect(processState({ ...currentProcessIdentity(), bootId: "another-boot" })).toBe("unknown");
  });

  it("removes a lock whose owner is dead at once, and reports it", async () => {
    const path = join(dir, "dead.lock");
    await writeFile(path, JSON.stringify(deadProcess()));
    const stale: unknown[] = [];
    const lock = await FileLock.acquire(path, { timeoutMs: 1000, onStale: (o) => stale.push(o) });
    expect(stale).toHaveLength(1);
    await lock.release();
  });

  it("treats a lock of unknown liveness as stale only when it has not been refreshed for a while", async () => {
    const path = join(dir, "foreign.lock");
    await writeFile(path, JSON.stringify({ ...currentProcessIdentity(), bootId: "another-container" }));
    await expect(FileLock.acquire(path, { timeoutMs: 150, staleAfterMs: 60_000 })).rejects.toThrow(/timed out/);
    const old = new Date(Date.now() - 120_000);
    await utimes(path, old, old);
    const lock = await FileLock.acquire(path, { timeoutMs: 1000, staleAfterMs: 60_000 });
    await lock.release();
  });

  it("lets exactly one of many concurrent waiters break a stale lock", async () => {
    const path = join(dir, "herd.lock");
    await writeFile(path, JSON.stringify(deadProcess()));
    let holders = 0;
    let most = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        const lock = await FileLock.acquire(path, { timeoutMs: 10_000 });
        most = Math.max(most, ++holders);
        await new Promise((r) => setTimeout(r, 5));
        holders--;
        await lock.release();
      }),
    );
    expect(most).toBe(1);
  });
});
