import { lstatSync, writeFileSync } from "node:fs";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { settledMoment } from "../../src/restore-record/fs-clock.js";

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "fs-clock-test-"));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("the settled filesystem moment", () => {
  it("is newer than every change before it and not newer than any change after it", async () => {
    for (let i = 0; i < 40; i++) {
      const file = join(dir, `f${i % 4}`);
      writeFileSync(file, `before ${i}`);
      const before = lstatSync(file, { bigint: true }).ctimeNs;
      const settled = await settledMoment(dir);
      if (!settled) throw new Error("the filesystem clock did not move");
      writeFileSync(file, `after ${i}`);
      const after = lstatSync(file, { bigint: true }).ctimeNs;
      expect(before).toBeLessThan(settled.moment);
      expect(after).toBeGreaterThanOrEqual(settled.moment);
    }
  });

  it("leaves no probe file behind", async () => {
    await settledMoment(dir);
    expect((await readdir(dir)).filter((n) => n.startsWith(".restore-record-clock"))).toEqual([]);
  });
});
