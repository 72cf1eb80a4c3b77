// App slices (contract §4.8): the lifecycle's `Factory.SliceLayers` — n slices give n+1 layers.
// Paths are handled as "byte strings" (latin1: one char per byte), so comparisons are byte order.
import { lstatSync, readdirSync } from "node:fs";
import { absPath, ancestorEntries, fsEntry, isDir, statLike } from "./fs-entries.js";
import type { StatLike } from "./fs-entries.js";
import { BadPatternError, goMatch, hasMeta } from "./go-match.js";
import type { LayerSource, Owner } from "./layer-source.js";
import { cleanPath } from "./tar-header.js";
import type { TarEntry } from "./tar-entry.js";

/** One `[[slices]]` entry of `metadata.toml`. */
export interface SliceSpec {
  readonly paths: readonly string[];
}

interface AppNode {
  readonly st: StatLike;
  readonly children?: readonly string[];
}

const bytesOf = (s: string): Buffer => Buffer.from(s, "latin1");
const utf8 = (s: string): string => bytesOf(s).toString("utf8");
const parentOf = (p: string): string => {
  const i = p.lastIndexOf("/");
  return i <= 0 ? "/" : p.slice(0, i);
};
const joinL1 = (dir: string, name: string): string => (dir === "/" ? `/${name}` : `${dir}/${name}`);

/** Every path under (and including) the app dir with its lstat result and child paths. */
function scanApp(appDir: string): Map<string, AppNode> {
  const nodes = new Map<string, AppNode>();
  const pending = [appDir];
  for (let p = pending.pop(); p !== undefined; p = pending.pop()) {
    const st = statLike(lstatSync(bytesOf(p)));
    if (!isDir(st)) {
      nodes.set(p, { st });
      continue;
    }
    const children = readdirSync(bytesOf(p), { encoding: "buffer" }).map((n) => joinL1(p, n.toString("latin1")));
    nodes.set(p, { st, children });
    pending.push(...children);
  }
  return nodes;
}

/** Go `filepath.Glob` restricted to what can matter: paths inside the app dir (or its ancestors). */
function globApp(pattern: string, appDir: string, nodes: ReadonlyMap<string, AppNode>): string[] {
  goMatch(utf8(pattern), ""); // Go validates the whole pattern first
  if (!hasMeta(pattern)) return nodes.has(pattern) ? [pattern] : [];
  const slash = pattern.lastIndexOf("/");
  const rawDir = pattern.slice(0, slash + 1);
  const file = pattern.slice(slash + 1);
  const dir = rawDir === "" ? "." : rawDir === "/" ? "/" : rawDir.slice(0, -1);
  const dirs = hasMeta(dir) ? globDirs(dir, pattern, appDir, nodes) : [dir];
  const out: string[] = [];
  for (const d of dirs) {
    const node = nodes.get(d);
    let names: string[];
    if (node?.children) names = node.children.map((c) => c.slice(d === "/" ? 1 : d.length + 1));
    else if (d === "/" || appDir.startsWith(`${d}/`)) names = [appDir.slice(d === "/" ? 1 : d.length + 1).split("/")[0]!];
    else names = []; // outside the app dir: whatever Go finds there is ignored by the slicer
    for (const n of names) if (goMatch(utf8(file), utf8(n))) out.push(joinL1(d, n));
  }
  return out;
}

function globDirs(dir: string, pattern: string, appDir: string, nodes: ReadonlyMap<string, AppNode>): string[] {
  if (dir === pattern) throw new BadPatternError();
  return globApp(dir, appDir, nodes);
}

/** The partition state: which app paths are already in a slice (Go `sliceableDir.slicedFiles`). */
class Slicer {
  readonly sliced = new Map<string, boolean>();

  constructor(
    readonly appDir: string,
    readonly nodes: ReadonlyMap<string, AppNode>,
  ) {
    for (const p of nodes.keys()) this.sliced.set(p, false);
  }

  /** The sorted paths of the next slice layer. */
  slice(spec: SliceSpec): string[] {
    const matched = new Set<string>();
    for (const raw of spec.paths) {
      const rel = Buffer.from(raw, "utf8").toString("latin1");
      const pattern = rel === "" ? this.appDir : cleanPath(`${this.appDir}/${rel}`);
      let matches: string[];
      try {
        matches = globApp(pattern, this.appDir, this.nodes);
      } catch (err) {
        if (err instanceof BadPatternError) throw new Error(`bad pattern for glob path: ${err.message}`, { cause: err });
        throw err;
      }
      for (const m of matches) this.addMatched(matched, m);
    }
    return this.withParents(matched).sort();
  }

  /** Everything not yet in a slice, sorted; marks it all as sliced. */
  remaining(): string[] {
    const out: string[] = [];
    for (const [p, done] of this.sliced) {
      if (done) continue;
      out.push(p);
      this.sliced.set(p, true);
    }
    return out.sort();
  }

  private addMatched(matched: Set<string>, p: string): void {
    if (this.sliced.get(p) !== false) return; // outside the app dir, or already sliced
    for (const child of this.nodes.get(p)?.children ?? []) this.addMatched(matched, child);
    matched.add(p);
    this.sliced.set(p, true);
  }

  /** Adds the matched paths' parents inside the app dir; a parent is sliced once all its children are. */
  private withParents(matched: ReadonlySet<string>): string[] {
    const files = [...matched];
    const parents: string[] = [];
    const added = new Set<string>();
    for (const p of matched) {
      if (p === this.appDir) continue; // Go recurses forever here; the app dir has no parents to add
      for (let parent = parentOf(p); ; parent = parentOf(parent)) {
        if (!matched.has(parent) && !added.has(parent)) {
          added.add(parent);
          parents.push(parent);
          files.push(parent);
        }
        if (parent === this.appDir || parent === "/") break;
      }
    }
    const depth = (s: string): number => s.split("/").length;
    parents.sort((a, b) => depth(b) - depth(a)); // deepest first, so children are settled before parents
    for (const dir of parents) {
      const children = this.nodes.get(dir)?.children ?? [];
      this.sliced.set(dir, children.every((c) => this.sliced.get(c) !== false));
    }
    return files;
  }
}

/** A slice layer's source: nothing when empty, else the app dir's ancestors then the sorted paths. */
function sliceSource(paths: readonly string[], parents: readonly TarEntry[], nodes: ReadonlyMap<string, AppNode>, owner: Owner): LayerSource {
  return {
    *entries(): Generator<TarEntry, void, undefined> {
      if (paths.length === 0) return;
      yield* parents;
      for (const p of paths) {
        const e = fsEntry(bytesOf(p), nodes.get(p)!.st, owner);
        if (e) yield e;
      }
    },
  };
}

/**
 * Splits the app dir into n+1 layer sources for n slices (Go `SliceLayers`): each slice takes the
 * paths matching its patterns (Go `filepath.Glob` relative to the app dir; a matched directory
 * brings its subtree; paths taken by earlier slices are skipped) plus their parents inside the app
 * dir; the last source holds everything left. Entries are sorted by full path (byte order) and
 * owned by `owner`; the app dir's own ancestors keep their real owners. Empty slices give the empty tar.
 */
export async function appSliceSources(appDir: string, slices: readonly SliceSpec[], owner: Owner): Promise<LayerSource[]> {
  const root = absPath(appDir).toString("latin1");
  const nodes = scanApp(root);
  const parents = await ancestorEntries(bytesOf(root));
  const slicer = new Slicer(root, nodes);
  const lists = slices.map((s) => slicer.slice(s));
  lists.push(slicer.remaining());
  return lists.map((paths) => sliceSource(paths, parents, nodes, owner));
}
