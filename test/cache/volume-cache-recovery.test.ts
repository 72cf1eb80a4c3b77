// A volume cache survives a process killed (SIGKILL) at every point of a commit (issue 11 item 3):
// the next open recovers a whole cache, never discards the only complete copy, and says so.
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, readFile, readdir, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CACHE_METADATA_FILE, VolumeCache } from "../../src/cache/volume-cache.js";
import { isCompleteCache } from "../../src/cache/volume-cache-recovery.js";
import { FileLock } from "../../src/util/file-lock.js";
import { bundleFixture } from "./fixtures/bundle.js";

let base: string;
let writer: string;
let n = 0;

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), "volume-recovery-"));
  writer = await bundleFixture("cache-writer.ts", base);
});
afterAll(() => rm(base, { recursive: true, force: true }));

/** Runs the writer fixture to completion or to its crash point; resolves with its exit signal and output. */
function runWriter(cacheDir: string, name: string, commits: number, crashAt = ""): Promise<{ signal: NodeJS.Signals | null; code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [writer, cacheDir, name, String(commits), crashAt], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** The layer names of the committed metadata. */
async function committedLayers(cacheDir: string): Promise<string[]> {
  const md = JSON.parse(await readFile(join(cacheDir, "committed", CACHE_METADATA_FILE), "utf8")) as { buildpacks: { layers: Record<string, unknown> }[] };
  return md.buildpacks.flatMap((bp) => Object.keys(bp.layers)).sort();
}

async function freshCache(): Promise<string> {
  const dir = join(base, `cache-${++n}`);
  await mkdir(dir);
  return dir;
}

describe("a commit killed at each point is recovered by the next open", () => {
  // generation 1 commits fine; generation 2 is killed at the crash point
  const cases: [crashAt: string, expected: "old" | "new", notice: RegExp | undefined][] = [
    ["adding", "old", undefined],
    ["after-metadata", "old", undefined],
    ["after-backup", "new", /completed it with the new cache/],
    ["after-swap", "new", undefined],
    ["deleting-backup", "new", undefined],
  ];
  for (const [crashAt, expected, notice] of cases) {
    it(`killed ${crashAt}: the ${expected} cache is whole afterwards`, async () => {
      const dir = await freshCache();
      const first = await runWriter(dir, "one", 1);
      expect(first.stdout + first.stderr).toBe("committed one-1\n");
      const killed = await runWriter(dir, "two", 1, crashAt);
      expect(killed.signal).toBe("SIGKILL");

      const cache = await VolumeCache.open(dir);
      const notices = cache.takeNotices();
      expect(await isCompleteCache(join(dir, "committed"), CACHE_METADATA_FILE)).toBe(true);
      const layers = await committedLayers(dir);
      if (expected === "old") expect(layers).toEqual(["one-1-1", "one-1-2"]);
      else expect(layers).toEqual(["reused-one-1-1", "reused-one-1-2", "two-1-1", "two-1-2"]);
      if (notice) expect(notices.join("\n")).toMatch(notice);
      // the dead writer's lock was recognised as stale (its owner is gone)
      expect(notices.join("\n")).toMatch(/Removed a stale cache lock left by pid \d+/);
      expect((await readdir(dir)).sort()).toEqual(["committed", "staging"]);
      expect(await readdir(join(dir, "staging"))).toEqual([]);
    });
  }
});

describe("recovery from states a crash can leave", () => {
  /** committed/ (old), committed-backup/ and staging/ as given; returns the cache dir. */
  async function state(parts: { committed?: Record<string, string>; backup?: Record<string, string>; staging?: Record<string, string> }): Promise<string> {
    const dir = await freshCache();
    for (const [sub, files] of [["committed", parts.committed], ["committed-backup", parts.backup], ["staging", parts.staging]] as const) {
      if (!files) continue;
      await mkdir(join(dir, sub));
      for (const [name, content] of Object.entries(files)) await writeFile(join(dir, sub, name), content);
    }
    return dir;
  }
  const A = `sha256:${"a".repeat(64)}`;
  const B = `sha256:${"b".repeat(64)}`;
  const md = (sha: string) => JSON.stringify({ sbom: { sha: "" }, buildpacks: [{ key: "bp", version: "1", layers: { l: { sha, build: false, launch: false, cache: true } } }] });
  const whole = (sha: string, tag: string) => ({ [`${sha}.tar`]: tag, [CACHE_METADATA_FILE]: md(sha) });

  it("finishes the commit when committed/ is missing and staging/ is complete", async () => {
    const dir = await state({ backup: whole(A, "old"), staging: whole(B, "new") });
    const cache = await VolumeCache.open(dir);
    expect(await readFile(join(dir, "committed", `${B}.tar`), "utf8")).toBe("new");
    expect(cache.takeNotices()).toEqual([`Recovered the cache after an interrupted commit: completed it with the new cache from ${join(dir, "staging")}`]);
    expect((await readdir(dir)).sort()).toEqual(["committed", "staging"]);
  });

  it("puts the backup back when staging/ has no metadata (killed while adding layers)", async () => {
    const dir = await state({ backup: whole(A, "old"), staging: { [`${B}.tar`]: "partial" } });
    const cache = await VolumeCache.open(dir);
    expect(await readFile(join(dir, "committed", `${A}.tar`), "utf8")).toBe("old");
    expect(cache.takeNotices()).toEqual([`Recovered the cache after an interrupted commit: restored the previous cache from ${join(dir, "committed-backup")}`]);
  });

  it("puts the backup back when staging/'s metadata names a tar it lacks", async () => {
    const dir = await state({ backup: whole(A, "old"), staging: { [CACHE_METADATA_FILE]: md(B) } });
    await VolumeCache.open(dir);
    expect(await readFile(join(dir, "committed", `${A}.tar`), "utf8")).toBe("old");
  });

  it("keeps committed/ and drops a half-deleted backup", async () => {
    const dir = await state({ committed: whole(B, "new"), backup: { [`${A}.tar`]: "old" } });
    const cache = await VolumeCache.open(dir);
    expect(await readFile(join(dir, "committed", `${B}.tar`), "utf8")).toBe("new");
    expect(cache.takeNotices()).toEqual([]);
    expect((await readdir(dir)).sort()).toEqual(["committed", "staging"]);
  });

  it("lets readers wait for a commit in progress instead of seeing no cache", async () => {
    // committed/ missing while a live holder has the lock: exists() waits, then sees the recovered cache
    const dir = await state({ committed: whole(A, "old") });
    const cache = await VolumeCache.open(dir);
    const lock = await FileLock.acquire(join(dir, "commit.lock"));
    await rename(join(dir, "committed"), join(dir, "committed-backup"));
    const seen = cache.exists();
    await new Promise((r) => setTimeout(r, 50));
    await rename(join(dir, "committed-backup"), join(dir, "committed"));
    await lock.release();
    expect(await seen).toBe(true);
    expect(await cache.retrieveMetadataText()).toBe(md(A));
  });
});
