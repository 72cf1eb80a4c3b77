// `npm run bench -- <name> [args...]`: runs bench/<name>.ts (it may use test/harness to start real
// registries). Without a name it lists the benchmarks.
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { runTs } from "./run-ts.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const benches = readdirSync(join(root, "bench"))
  .filter((f) => f.endsWith(".ts") && !f.startsWith("_"))
  .map((f) => f.slice(0, -3));
const [name, ...args] = process.argv.slice(2);
if (!name || !benches.includes(name)) {
  console.log(`usage: npm run bench -- <${benches.join("|")}> [args...]`);
  process.exit(name ? 2 : 0);
}
process.exit(await runTs(join("bench", `${name}.ts`), args, ["--expose-gc"]));
