// `npm run bench -- <name> [args...]`: bundles bench/<name>.ts (it may use test/harness to start real
// registries) with esbuild and runs it with this Node. Without a name it lists the benchmarks.
import { build } from "esbuild";
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const benches = readdirSync(join(root, "bench"))
  .filter((f) => f.endsWith(".ts") && !f.startsWith("_"))
  .map((f) => f.slice(0, -3));
const [name, ...args] = process.argv.slice(2);
if (!name || !benches.includes(name)) {
  console.log(`usage: npm run bench -- <${benches.join("|")}> [args...]`);
  process.exit(name ? 2 : 0);
}
const outdir = join(root, ".bench");
mkdirSync(outdir, { recursive: true });
const outfile = join(outdir, `${name}.mjs`);
await build({
  entryPoints: [join(root, "bench", `${name}.ts`)],
  outfile,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  packages: "external",
  logLevel: "error",
});
const result = spawnSync(process.execPath, ["--expose-gc", outfile, ...args], { stdio: "inherit", cwd: root });
process.exit(result.status ?? 1);
