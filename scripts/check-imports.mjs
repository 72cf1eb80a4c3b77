// `node scripts/check-imports.mjs`: fails when src/ has an import cycle, between files or between
// the top-level folders of src/ (src/registry, src/image, ...), and prints each cycle found. Part of
// `npm run lint`. Relative imports (static `import … from`, `export … from`, dynamic `import()`) are
// followed; type-only imports count too, since they tie the modules' designs together.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const src = join(root, "src");

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return walk(path);
    return name.endsWith(".ts") ? [path] : [];
  });
}

const IMPORT = /(?:^|[\s;])(?:import|export)\s[^;"'`]*?from\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g;

/** The relative imports of a file, resolved to .ts files under src/. */
function importsOf(file) {
  const text = readFileSync(file, "utf8");
  const out = new Set();
  for (const m of text.matchAll(IMPORT)) {
    const spec = m[1] ?? m[2];
    if (!spec.startsWith(".")) continue;
    const target = resolve(dirname(file), spec.replace(/\.js$/, ".ts"));
    out.add(target);
  }
  return [...out];
}

/** Strongly connected components with more than one node (or a self-loop): the cycles. */
function cycles(graph) {
  let index = 0;
  const stack = [];
  const onStack = new Set();
  const idx = new Map();
  const low = new Map();
  const found = [];
  const strong = (v) => {
    idx.set(v, index);
    low.set(v, index);
    index++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!idx.has(w)) {
        strong(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v), idx.get(w)));
      }
    }
    if (low.get(v) === idx.get(v)) {
      const component = [];
      let w;
      do {
        w = stack.pop();
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) strong(v);
  return found;
}

const files = walk(src);
const fileGraph = new Map(files.map((f) => [f, importsOf(f)]));
const folderOf = (f) => relative(src, f).split(sep)[0].replace(/\.ts$/, "");
const folderGraph = new Map();
for (const [f, targets] of fileGraph) {
  const from = folderOf(f);
  if (!folderGraph.has(from)) folderGraph.set(from, []);
  for (const t of targets) {
    const to = folderOf(t);
    if (to !== from && !folderGraph.get(from).includes(to)) folderGraph.get(from).push(to);
  }
}

const fileCycles = cycles(fileGraph);
const folderCycles = cycles(folderGraph);
for (const c of fileCycles) console.error(`import cycle between files: ${c.map((f) => relative(root, f)).join(" -> ")}`);
for (const c of folderCycles) {
  const edges = [];
  for (const [f, targets] of fileGraph) {
    for (const t of targets) if (c.includes(folderOf(f)) && c.includes(folderOf(t)) && folderOf(f) !== folderOf(t)) edges.push(`${relative(root, f)} -> ${relative(root, t)}`);
  }
  console.error(`import cycle between folders src/{${c.join(",")}}:\n  ${edges.join("\n  ")}`);
}
if (fileCycles.length + folderCycles.length > 0) process.exit(1);
console.log(`no import cycles: ${files.length} files, ${folderGraph.size} folders of src/`);
