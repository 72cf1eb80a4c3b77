// Runs a TypeScript entry point (bench, demo) with this Node: bundles it with esbuild into .bench/
// (dependencies stay external) and executes it. `node scripts/run-ts.mjs <file.ts> [args...]`.
import { build } from "esbuild";
import { spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

/** Bundles `entry` and runs it with `args`; returns the exit code. */
export async function runTs(entry, args = [], nodeArgs = []) {
  const outdir = join(root, ".bench");
  mkdirSync(outdir, { recursive: true });
  const outfile = join(outdir, `${basename(entry, ".ts")}.mjs`);
  await build({
    entryPoints: [resolve(root, entry)],
    outfile,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    packages: "external",
    logLevel: "error",
  });
  const result = spawnSync(process.execPath, [...nodeArgs, outfile, ...args], { stdio: "inherit", cwd: root });
  return result.status ?? 1;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [entry, ...args] = process.argv.slice(2);
  if (!entry) {
    console.error("usage: node scripts/run-ts.mjs <file.ts> [args...]");
    process.exit(2);
  }
  process.exit(await runTs(entry, args));
}
