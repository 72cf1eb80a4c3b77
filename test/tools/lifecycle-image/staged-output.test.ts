import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { useTempDir } from "../../harness/vitest/use-temp-dir.js";
import { StagedOutput } from "../../../src/tools/lifecycle-image/staged-output.js";

const temp = useTempDir("staged-output");

describe("StagedOutput", () => {
  it("stages beside the destination and swaps the new directory in on commit", async () => {
    const parent = join(temp(), "a");
    const dest = join(parent, "image");
    await mkdir(dest, { recursive: true });
    await writeFile(join(dest, "old"), "old");
    const staged = await StagedOutput.create(dest);
    expect(staged.dir.startsWith(join(parent, ".image-"))).toBe(true);
    await mkdir(staged.path("layout"));
    await writeFile(join(staged.path("layout"), "new"), "new");
    await staged.commit(staged.path("layout"));
    expect(await readdir(dest)).toEqual(["new"]);
    expect(await readdir(parent)).toEqual(["image"]);
  });

  it("creates the destination's parent and leaves nothing when discarded", async () => {
    const dest = join(temp(), "b", "deeper", "image");
    const staged = await StagedOutput.create(dest);
    await writeFile(staged.path("partial"), "x");
    await staged.discard();
    expect(await readdir(join(temp(), "b", "deeper"))).toEqual([]);
  });

  it("keeps the old destination when the new one cannot be moved in", async () => {
    const parent = join(temp(), "c");
    const dest = join(parent, "image");
    await mkdir(dest, { recursive: true });
    await writeFile(join(dest, "old"), "old");
    const staged = await StagedOutput.create(dest);
    await expect(staged.commit(staged.path("missing"))).rejects.toThrow(/ENOENT/);
    expect(await readFile(join(dest, "old"), "utf8")).toBe("old");
    await staged.discard();
    expect(await readdir(parent)).toEqual(["image"]);
  });
});
