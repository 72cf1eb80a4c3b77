import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfinementError, confinedDir } from "../../src/layers/confined-dir.js";

let base: string;
let layers: string;
let outside: string;
beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), "confined-dir-"));
  layers = join(base, "layers");
  outside = join(base, "outside");
  await mkdir(layers);
  await mkdir(outside);
});
afterAll(() => rm(base, { recursive: true, force: true }));

describe("confinedDir", () => {
  it("creates missing directories inside the root and returns the real path", async () => {
    expect(await confinedDir(layers, join(layers, "a", "b"), { create: false })).toBeUndefined();
    expect(await confinedDir(layers, join(layers, "a", "b"), { create: true })).toBe(join(layers, "a", "b"));
  });

  it("follows symlinks that stay inside the root", async () => {
    await mkdir(join(layers, "real"));
    await symlink(join(layers, "real"), join(layers, "link"));
    expect(await confinedDir(layers, join(layers, "link", "sub"), { create: true })).toBe(join(layers, "real", "sub"));
  });

  it("refuses a symlink out of the root, creating nothing beyond it", async () => {
    await symlink(outside, join(layers, "escape"));
    await expect(confinedDir(layers, join(layers, "escape", "x", "y"), { create: true })).rejects.toThrow(ConfinementError);
    await expect(confinedDir(layers, join(layers, "escape"), { create: false })).rejects.toThrow(`is a symlink to "${outside}", outside the layers directory`);
    expect(await readdir(outside)).toEqual([]);
  });

  it("refuses a file or a dangling symlink on the way, and a path outside the root", async () => {
    await writeFile(join(layers, "file"), "x");
    await expect(confinedDir(layers, join(layers, "file"), { create: true })).rejects.toThrow("is not a directory");
    await symlink(join(layers, "nowhere"), join(layers, "dangling"));
    await expect(confinedDir(layers, join(layers, "dangling"), { create: true })).rejects.toThrow("does not resolve");
    await expect(confinedDir(layers, join(layers, "..", "outside"), { create: true })).rejects.toThrow("is not inside");
  });
});
