// Layer builds on a full filesystem (issue 11 item 2): every write failure rejects the build's own
// promise; none escapes as an unhandled rejection (which kills the exporter with a raw stack).
import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { buildLayerBlob, type LayerSource, type TarEntry } from "../../src/layers/index.js";

const RUNS = 20;
let base: string;
let full: string;
const unhandled: unknown[] = [];
const record = (reason: unknown) => unhandled.push(reason);

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), "pipeline-full-disk-"));
  full = join(base, "full");
  await mkdir(full);
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", full]);
  // fill it to the last block
  await writeFile(join(full, "filler"), Buffer.alloc(1 << 20)).catch(() => undefined);
});
afterAll(async () => {
  execFileSync("umount", [full]);
  await rm(base, { recursive: true, force: true });
});
beforeEach(() => {
  unhandled.length = 0;
  process.on("unhandledRejection", record);
});
afterEach(() => {
  process.off("unhandledRejection", record);
});

/** A source that takes a while to produce its entries (reading files does, on a real disk). */
function slowSource(): LayerSource {
  return {
    async *entries(): AsyncGenerator<TarEntry, void, undefined> {
      await sleep(20);
      yield { name: "/layers/bp/layer/a.txt", type: "file", mode: 0o644, uid: 0, gid: 0, content: Buffer.alloc(4096, 7) };
    },
  };
}

describe("buildLayerBlob on a full filesystem", () => {
  for (const compression of ["parallel", "stream"] as const) {
    it(`rejects with ENOSPC and leaves no unhandled rejection and no file (${compression}, ${RUNS} runs)`, async () => {
      for (let i = 0; i < RUNS; i++) {
        await expect(buildLayerBlob(slowSource(), full, { compression })).rejects.toThrow(/ENOSPC/);
        await expect(buildLayerBlob(slowSource(), full, { compression, uncompressedPath: join(full, "tee.tar") })).rejects.toThrow(/ENOSPC/);
        // let any stray rejection surface before checking
        await sleep(5);
      }
      expect(unhandled).toEqual([]);
      expect((await readdir(full)).sort()).toEqual(["filler"]);
    });
  }
});
