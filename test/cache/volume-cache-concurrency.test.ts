// Processes sharing one cache directory (issue 11 item 4): commits are serialised by the cache
// lock, so racing writers never fail, never leave metadata naming a missing tar, and readers never
// see the cache vanish in the middle of someone else's commit.
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CACHE_METADATA_FILE, VolumeCache } from "../../src/cache/volume-cache.js";
import { isCompleteCache } from "../../src/cache/volume-cache-recovery.js";
import { parseCacheMetadataLenient } from "../../src/platform/files/cache-metadata.js";
import { bundleFixture } from "./fixtures/bundle.js";

const ROUNDS = Number(process.env.CACHE_RACE_ROUNDS ?? "10");
const COMMITS = 8;

let base: string;
let writer: string;

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), "volume-race-"));
  writer = await bundleFixture("cache-writer.ts", base);
});
afterAll(() => rm(base, { recursive: true, force: true }));

function runWriter(cacheDir: string, name: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [writer, cacheDir, name, String(COMMITS)], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("two writer processes racing on one cache directory", () => {
  it(`always leave a whole cache and never fail (${ROUNDS} rounds of ${COMMITS} commits each)`, async () => {
    const problems: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const dir = join(base, `race-${round}`);
      await mkdir(dir);
      const writers = Promise.all([runWriter(dir, "a"), runWriter(dir, "b")]);
      // a reader (like a restorer of a third build) keeps looking meanwhile
      let done = false;
      void writers.finally(() => (done = true));
      let reads = 0;
      while (!done) {
        const reader = await VolumeCache.open(dir);
        if (!(await reader.exists())) problems.push(`round ${round}: a reader saw no cache`);
        reads++;
      }
      for (const [i, r] of (await writers).entries()) {
        if (r.code !== 0) problems.push(`round ${round}: writer ${i} exited ${r.code}: ${r.stderr.split("\n").slice(0, 3).join(" | ")}`);
        else if (r.stdout.trim().split("\n").length !== COMMITS) problems.push(`round ${round}: writer ${i} committed ${r.stdout.trim().split("\n").length} times`);
      }
      const committed = join(dir, "committed");
      if (!(await isCompleteCache(committed, CACHE_METADATA_FILE))) problems.push(`round ${round}: committed metadata names a missing tar`);
      // exactly the metadata and the tars it names: one writer's last commit, whole
      const md = parseCacheMetadataLenient(await (await VolumeCache.open(dir)).retrieveMetadataText());
      const named = md.buildpacks.flatMap((bp) => Object.values(bp.layers).map((l) => `${l.sha}.tar`));
      const files = (await readdir(committed)).filter((f) => f !== CACHE_METADATA_FILE).sort();
      if (JSON.stringify(files) !== JSON.stringify([...new Set(named)].sort())) problems.push(`round ${round}: committed has ${files.length} tars, metadata names ${named.length}`);
      if (md.buildpacks[0]?.version !== String(COMMITS)) problems.push(`round ${round}: last commit is ${md.buildpacks[0]?.key}-${md.buildpacks[0]?.version}`);
      expect(reads).toBeGreaterThan(0);
    }
    expect(problems).toEqual([]);
  });
});
