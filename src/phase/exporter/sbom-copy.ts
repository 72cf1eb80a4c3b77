import { access, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { confinedDir } from "../../layers/confined-dir.js";
import type { Logger } from "../../log/logger.js";
import { writeFileAtomic } from "../../util/atomic-write.js";

const FORMATS = ["cdx", "spdx", "syft"] as const;
const SBOM_NAME = /sbom\.(cdx|spdx|syft)\.json$/;
/** The lifecycle's own directory, where its SBOMs ship (`-launcher-sbom` default). */
export const DEFAULT_SBOM_DIR = "/cnb/lifecycle";

/**
 * Copies the lifecycle and launcher SBOMs into the layers dir (contract §2.3 step 9.1, API 0.11+):
 * from the default dir `lifecycle.sbom.<fmt>.json` → `sbom/build/buildpacksio_lifecycle/` and
 * `launcher.sbom.<fmt>.json` → `sbom/launch/buildpacksio_lifecycle/launcher/`; from a custom dir
 * every `*sbom.<fmt>.json` keeping its name. Missing files are not an error.
 */
export async function copyLifecycleSboms(layersDir: string, sbomDir: string, logger: Logger): Promise<void> {
  const launchDest = join(layersDir, "sbom", "launch", "buildpacksio_lifecycle", "launcher");
  if (sbomDir !== DEFAULT_SBOM_DIR) {
    let files: string[];
    try {
      files = (await readdir(sbomDir)).filter((f) => SBOM_NAME.test(f));
    } catch (err) {
      logger.warn(`Failed to copy launcher SBOM files from '${sbomDir}': ${(err as Error).message}`);
      return;
    }
    for (const f of files) await copyInto(layersDir, join(sbomDir, f), launchDest, f);
    return;
  }
  const copies = FORMATS.flatMap((fmt) => [
    { from: join(sbomDir, `lifecycle.sbom.${fmt}.json`), to: join(layersDir, "sbom", "build", "buildpacksio_lifecycle"), name: `sbom.${fmt}.json` },
    { from: join(sbomDir, `launcher.sbom.${fmt}.json`), to: launchDest, name: `sbom.${fmt}.json` },
  ]);
  for (const c of copies) {
    if (!(await access(c.from).then(() => true, () => false))) {
      logger.debug(`No lifecycle SBOM at ${c.from}`);
      continue;
    }
    await copyInto(layersDir, c.from, c.to, c.name);
  }
}

/**
 * Copies `from` to `<dir>/<name>` under the layers dir: `dir` is created without following a
 * symlink out of it (a previous image's SBOM layer restored `<layers>/sbom`), and the file is
 * written by rename, replacing rather than writing through a symlink.
 */
async function copyInto(layersDir: string, from: string, dir: string, name: string): Promise<void> {
  const target = (await confinedDir(layersDir, dir, { create: true })) ?? dir;
  await writeFileAtomic(join(target, name), await readFile(from));
}
