// Global setup of the "image" test project: builds the release once (`npm run release`, into
// dist/release like a user would) and downloads the base's .debs once with apt into a cache that
// the suites share, so the image builds in the tests run offline from those files.
import { spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { packagesFromApt } from "../../src/tools/lifecycle-image/debian-packages.js";

declare module "vitest" {
  export interface ProvidedContext {
    /** The release tarball `npm run release` made. */
    lifecycleRelease: string;
    /** LIFECYCLE_IMAGE_CACHE for `npm run image` (its debs/ holds the apt downloads). */
    lifecycleImageCache: string;
    /** The directory of .debs (for `--debs`). */
    lifecycleDebs: string;
  }
}

const root = join(import.meta.dirname, "..", "..");

/** Builds the release and fetches the .debs; returns the teardown. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const cache = await mkdtemp(join(tmpdir(), "lifecycle-image-cache-"));
  let started = performance.now();
  const release = spawnSync(process.execPath, [join(root, "scripts", "release.mjs")], { cwd: root, encoding: "utf8" });
  if (release.status !== 0) throw new Error(`npm run release failed:\n${release.stdout}${release.stderr}`);
  const releaseSeconds = (performance.now() - started) / 1000;
  started = performance.now();
  const debs = join(cache, "debs");
  const packages = await packagesFromApt(debs);
  console.log(
    `image tests: release built in ${releaseSeconds.toFixed(1)} s; ${packages.packages.map((p) => `${p.deb.control.package}=${p.deb.control.version}`).join(" ")} ` +
      `resolved${packages.downloaded.length ? " and downloaded" : ""} in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
  const { version } = JSON.parse(await readFile(join(root, "package.json"), "utf8")) as { version: string };
  project.provide("lifecycleRelease", join(root, "dist", "release", `lifecycle-v${version}+linux.x86-64.tgz`));
  project.provide("lifecycleImageCache", cache);
  project.provide("lifecycleDebs", debs);
  return () => rm(cache, { recursive: true, force: true });
}
