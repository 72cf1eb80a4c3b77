// Which lifecycle a benchmark measures, and a check that it is built from the current sources.
import { existsSync, readdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";

const ROOT = process.cwd();
const DIST = join(ROOT, "dist", "lifecycle");

/** The lifecycle folder measured: `--lifecycle <dir>` or dist/lifecycle. */
export function lifecycleDir(args: readonly string[]): string {
  const i = args.indexOf("--lifecycle");
  const dir = i >= 0 ? args[i + 1] : undefined;
  return dir ? resolve(dir) : DIST;
}

/** Fails unless the built lifecycle exists; warns when a source file is newer than dist's bundle. */
export function checkBuild(dir: string): void {
  const exporter = join(dir, "exporter");
  if (!existsSync(exporter)) throw new Error(`${exporter} does not exist: run "npm run build" first`);
  if (dir !== DIST) return;
  const built = statSync(join(dir, "lifecycle")).mtimeMs;
  const newer = (d: string): string | undefined => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const path = join(d, entry.name);
      const found = entry.isDirectory() ? newer(path) : statSync(path).mtimeMs > built ? path : undefined;
      if (found) return found;
    }
    return undefined;
  };
  const stale = newer(join(ROOT, "src"));
  if (stale) console.warn(`warning: ${stale} is newer than ${dir}/lifecycle: run "npm run build" to measure the current code`);
}
