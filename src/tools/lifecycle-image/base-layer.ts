// The base layer: from the Debian packages, only what the dynamic loader needs to start the
// executable (its interpreter and the DT_NEEDED closure of shared libraries, found the way ld.so
// searches without a cache), the packages' copyright files and dpkg records, plus the few files a
// lifecycle container needs (root in /etc/passwd and /etc/group, /etc/nsswitch.conf, /tmp).
import { posix } from "node:path";
import { type TarEntry } from "../../layers/tar-entry.js";
import type { DebFile } from "./deb-package.js";
import type { ResolvedPackage } from "./debian-packages.js";
import { bufferReader, EM_X86_64, readElfDependencies, type ElfDependencies } from "./elf.js";
import { NORMALIZED_MTIME } from "../../oci/normalized-time.js";

/** Where Debian's ld.so looks for a soname when there is no /etc/ld.so.cache (`ld.so --help`). */
export const LIBRARY_SEARCH_PATH: readonly string[] = ["/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib", "/usr/lib"];

/** Files the base adds that no package provides (see the README's "The lifecycle image"). */
export const SYSTEM_FILES: ReadonlyMap<string, string> = new Map([
  // pack starts the phases with User "root", a name the runtime looks up in the image
  ["/etc/passwd", "root:x:0:0:root:/root:/sbin/nologin\n"],
  ["/etc/group", "root:x:0:\n"],
  // glibc without this file asks DNS before /etc/hosts (hostAliases, --add-host)
  ["/etc/nsswitch.conf", "passwd: files\ngroup: files\nhosts: files dns\n"],
]);
/** Directories the base adds: the exporter's temp dir, written after the switch to the CNB user. */
export const SYSTEM_DIRECTORIES: ReadonlyMap<string, number> = new Map([["/tmp", 0o1777]]);

/** The base layer's tar entries and what was taken from which package. */
export interface BaseLayer {
  readonly entries: readonly TarEntry[];
  /** Files (and symlinks on the way to them) taken for the loader, with their package. */
  readonly libraries: readonly { readonly path: string; readonly package: string }[];
}

/** The packages do not provide what the executable needs, or disagree about a path. */
export class BaseLayerError extends Error {
  override name = "BaseLayerError";
}

interface Owned {
  readonly file: DebFile;
  readonly package: string;
}

const MAX_SYMLINKS = 40;

/** All packages' files by path; the same path in two packages must be the same entry (or a directory). */
function unionTree(packages: readonly ResolvedPackage[]): Map<string, Owned> {
  const tree = new Map<string, Owned>();
  for (const { deb } of packages) {
    for (const file of deb.files.values()) {
      const other = tree.get(file.path);
      if (other && !(other.file.type === "dir" && file.type === "dir") && !sameEntry(other.file, file)) {
        throw new BaseLayerError(`${file.path} differs between ${other.package} and ${deb.control.package}`);
      }
      if (!other) tree.set(file.path, { file, package: deb.control.package });
    }
  }
  return tree;
}

function sameEntry(a: DebFile, b: DebFile): boolean {
  return a.type === b.type && a.mode === b.mode && a.linkname === b.linkname && (a.content ?? Buffer.alloc(0)).equals(b.content ?? Buffer.alloc(0));
}

/**
 * Follows symlinks (in any component) inside the tree: the final path (which may not exist) and the
 * symlinks passed. A component the packages do not list is taken as a directory.
 */
function resolvePath(tree: ReadonlyMap<string, Owned>, path: string, hops = 0): { target: string; via: string[] } {
  if (hops > MAX_SYMLINKS) throw new BaseLayerError(`too many symlinks resolving ${path}`);
  const parts = path.split("/").filter((p) => p !== "");
  let current = "";
  for (const [i, part] of parts.entries()) {
    const next = `${current}/${part}`;
    const owned = tree.get(next);
    if (owned?.file.type === "symlink") {
      const link = owned.file.linkname ?? "";
      const target = posix.join(link.startsWith("/") ? link : posix.join(current || "/", link), ...parts.slice(i + 1));
      const rest = resolvePath(tree, target, hops + 1);
      return { target: rest.target, via: [next, ...rest.via] };
    }
    current = next;
  }
  return { target: current || "/", via: [] };
}

/** Finds a soname in the search path; returns the file and the symlinks leading to it. */
function findLibrary(tree: ReadonlyMap<string, Owned>, soname: string): { target: string; via: string[] } | undefined {
  for (const dir of LIBRARY_SEARCH_PATH) {
    const found = resolvePath(tree, `${dir}/${soname}`);
    if (tree.get(found.target)?.file.type === "file") return found;
  }
  return undefined;
}

/** The loader's closure of an executable over the packages' files: interpreter, libraries, links. */
async function loaderClosure(tree: ReadonlyMap<string, Owned>, executable: ElfDependencies, packageNames: string): Promise<Set<string>> {
  const taken = new Set<string>();
  const pending: { soname: string; neededBy: string }[] = executable.needed.map((soname) => ({ soname, neededBy: "the executable" }));
  const take = async (found: { target: string; via: string[] }): Promise<void> => {
    for (const link of found.via) taken.add(link);
    if (taken.has(found.target)) return;
    taken.add(found.target);
    const content = tree.get(found.target)?.file.content ?? Buffer.alloc(0);
    const deps = await readElfDependencies(bufferReader(content), found.target);
    if (deps.machine !== EM_X86_64) throw new BaseLayerError(`${found.target} is not an x86-64 library`);
    for (const soname of deps.needed) pending.push({ soname, neededBy: found.target });
  };
  if (executable.interpreter !== undefined) {
    const found = resolvePath(tree, executable.interpreter);
    if (tree.get(found.target)?.file.type !== "file") {
      throw new BaseLayerError(`the executable's interpreter ${executable.interpreter} is in none of the packages (${packageNames})`);
    }
    await take(found);
  }
  for (let next = pending.shift(); next; next = pending.shift()) {
    const found = findLibrary(tree, next.soname);
    if (!found) throw new BaseLayerError(`${next.soname} (needed by ${next.neededBy}) is in none of the packages (${packageNames})`);
    await take(found);
  }
  return taken;
}

/** Copyright files and doc-directory symlinks (`/usr/share/doc/libstdc++6 -> gcc-12-base`). */
function copyrightPaths(tree: ReadonlyMap<string, Owned>): string[] {
  return [...tree.values()]
    .filter(({ file }) =>
      file.type === "symlink" ? /^\/usr\/share\/doc\/[^/]+$/.test(file.path) : file.type === "file" && /^\/usr\/share\/doc\/[^/]+\/copyright$/.test(file.path),
    )
    .map(({ file }) => file.path);
}

function entry(path: string, fields: Omit<TarEntry, "name" | "uid" | "gid" | "mtime">): TarEntry {
  return { name: path, uid: 0, gid: 0, mtime: NORMALIZED_MTIME, ...fields };
}

function fileEntry(file: DebFile): TarEntry {
  switch (file.type) {
    case "file":
      return entry(file.path, { type: "file", mode: file.mode, size: file.content?.length ?? 0, content: file.content ?? Buffer.alloc(0) });
    case "symlink":
      return entry(file.path, { type: "symlink", mode: 0o777, linkname: file.linkname ?? "" });
    case "dir":
      return entry(file.path, { type: "dir", mode: file.mode });
  }
}

/**
 * The base layer for an executable with the given ELF dependencies: owned by root, mtimes at
 * 1980-01-01T00:00:01Z, sorted by path, so the same packages give the same layer.
 */
export async function baseLayer(packages: readonly ResolvedPackage[], executable: ElfDependencies): Promise<BaseLayer> {
  const tree = unionTree(packages);
  const packageNames = packages.map((p) => p.deb.control.package).join(", ");
  const loader = await loaderClosure(tree, executable, packageNames);
  const entries = new Map<string, TarEntry>();
  const add = (e: TarEntry): void => {
    entries.set(e.name as string, e);
  };
  for (const path of [...loader, ...copyrightPaths(tree)]) add(fileEntry((tree.get(path) as Owned).file));
  for (const { deb } of packages) {
    const raw = Buffer.from(deb.control.raw, "utf8");
    add(entry(`/var/lib/dpkg/status.d/${deb.control.package}`, { type: "file", mode: 0o644, size: raw.length, content: raw }));
  }
  for (const [path, text] of SYSTEM_FILES) {
    const content = Buffer.from(text, "utf8");
    add(entry(path, { type: "file", mode: 0o644, size: content.length, content }));
  }
  for (const [path, mode] of SYSTEM_DIRECTORIES) add(entry(path, { type: "dir", mode }));
  // every ancestor as a directory, with the package's mode when a package has it
  for (const path of [...entries.keys()]) {
    for (let dir = posix.dirname(path); dir !== "/"; dir = posix.dirname(dir)) {
      if (entries.has(dir)) continue;
      const owned = tree.get(dir);
      if (owned && owned.file.type !== "dir") throw new BaseLayerError(`${dir} is a ${owned.file.type} in ${owned.package}, not a directory`);
      add(entry(dir, { type: "dir", mode: owned?.file.mode ?? 0o755 }));
    }
  }
  const sorted = [...entries.values()].sort((a, b) => Buffer.compare(Buffer.from(a.name as string), Buffer.from(b.name as string)));
  const libraries = [...loader].sort().map((path) => ({ path, package: (tree.get(path) as Owned).package }));
  return { entries: sorted, libraries };
}
