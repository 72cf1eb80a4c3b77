import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import type * as FsPromises from "node:fs/promises";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { VolumeCache as VolumeCacheType } from "../../src/cache/volume-cache.js";

// Fault injection for the renames commit() performs, chosen as "<from name>><to name>".
const fault = vi.hoisted(() => ({ failRenameTo: new Set<string>() }));

vi.mock("node:fs/promises", async (importOriginal) => {
  const actual = await importOriginal<typeof FsPromises>();
  return {
    ...actual,
    rename: async (from: string, to: string) => {
      if (fault.failRenameTo.has(`${basename(from)}>${basename(to)}`)) {
        throw Object.assign(new Error(`EIO: simulated failure, rename '${from}' -> '${to}'`), {
          code: "EIO", syscall: "rename", path: from, dest: to,
        });
      }
      return actual.rename(from, to);
    },
  };
});

const { VolumeCache } = await import("../../src/cache/volume-cache.js");

const OLD = `sha256:${"a".repeat(64)}`;
const NEW = `sha256:${"b".repeat(64)}`;

let base: string;
let cacheDir: string;

beforeEach(async () => {
  fault.failRenameTo.clear();
  base = await mkdtemp(join(tmpdir(), "volume-commit-"));
  cacheDir = join(base, "cache");
  await mkdir(join(cacheDir, "committed"), { recursive: true });
  await writeFile(join(cacheDir, "committed", `${OLD}.tar`), "old layer");
  await writeFile(join(cacheDir, "committed", "io.buildpacks.lifecycle.cache.metadata"), '{"old":true}\n');
});

afterEach(async () => {
  await rm(base, { recursive: true, force: true });
});

async function stagedCache(): Promise<VolumeCacheType> {
  const cache = await VolumeCache.open(cacheDir);
  await writeFile(join(base, "new.tar"), "new layer");
  await cache.addLayerFile(join(base, "new.tar"), NEW);
  await cache.setMetadata({ old: false });
  return cache;
}

async function expectPreviousCacheIntact(dir: string): Promise<void> {
  expect((await readdir(dir)).sort()).toEqual([`${OLD}.tar`, "io.buildpacks.lifecycle.cache.metadata"].sort());
  expect(await readFile(join(dir, `${OLD}.tar`), "utf8")).toBe("old layer");
  expect(await readFile(join(dir, "io.buildpacks.lifecycle.cache.metadata"), "utf8")).toBe('{"old":true}\n');
}

describe("VolumeCache.commit is atomic", () => {
  it("swaps staging in and drops the backup on success", async () => {
    const cache = await stagedCache();
    await cache.commit();
    expect(await readdir(cacheDir)).toEqual(["committed"]);
    expect((await readdir(join(cacheDir, "committed"))).sort()).toEqual(
      [`${NEW}.tar`, "io.buildpacks.lifecycle.cache.metadata"].sort(),
    );
  });

  it("keeps the previous cache when staging cannot be moved into place", async () => {
    const cache = await stagedCache();
    fault.failRenameTo.add("staging>committed");
    await expect(cache.commit()).rejects.toThrow(/^committing cache: rename \S*staging \S*committed: input\/output error$/);
    await expectPreviousCacheIntact(join(cacheDir, "committed"));
    expect((await readdir(cacheDir)).sort()).toEqual(["committed", "staging"]);
  });

  it("keeps the previous cache when staging has vanished", async () => {
    const cache = await stagedCache();
    await rm(join(cacheDir, "staging"), { recursive: true });
    await expect(cache.commit()).rejects.toThrow(/^committing cache: rename .*: no such file or directory$/);
    await expectPreviousCacheIntact(join(cacheDir, "committed"));
  });

  it("keeps the previous cache when the backup rename fails", async () => {
    const cache = await stagedCache();
    fault.failRenameTo.add("committed>committed-backup");
    await expect(cache.commit()).rejects.toThrow(/^backing up cache: /);
    await expectPreviousCacheIntact(join(cacheDir, "committed"));
  });

  it("does not delete the backup when even the rollback fails", async () => {
    const cache = await stagedCache();
    await rm(join(cacheDir, "staging"), { recursive: true });
    // the rollback renames committed-backup → committed: make that fail too
    fault.failRenameTo.add("committed-backup>committed");
    await expect(cache.commit()).rejects.toThrow(/^rolling back cache: /);
    await expectPreviousCacheIntact(join(cacheDir, "committed-backup"));
  });
});
