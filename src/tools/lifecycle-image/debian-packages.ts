// The Debian packages the image's base is made of: the C library and C++ runtime the Node single
// executable links (`ldd`: libc.so.6, libm.so.6, libstdc++.so.6, libgcc_s.so.1 ...) and their
// dependency closure (gcc-12-base, which carries the GCC runtime's copyright). apt resolves and
// downloads them into a cache, or they come from a directory of .debs (offline, pinned).
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCommand } from "./host-command.js";
import { DebPackageError, readDebPackage, type DebPackage } from "./deb-package.js";

/** The packages asked for; their Depends are added until the set is closed. */
export const BASE_PACKAGES: readonly string[] = ["libc6", "libgcc-s1", "libstdc++6"];
/** Debian architectures the amd64 image takes packages of. */
const ARCHITECTURES = new Set(["amd64", "all"]);

/** One package of the base and where its .deb came from. */
export interface ResolvedPackage {
  readonly deb: DebPackage;
  /** `sha256:<hex>` of the .deb file. */
  readonly sha256: string;
}

/** How the packages were obtained. */
export interface PackageReport {
  readonly packages: readonly ResolvedPackage[];
  /** .debs apt downloaded in this run (empty when all came from the cache or a directory). */
  readonly downloaded: readonly string[];
}

async function sha256File(path: string): Promise<string> {
  return `sha256:${createHash("sha256").update(await readFile(path)).digest("hex")}`;
}

function checkArchitecture(deb: DebPackage): void {
  if (!ARCHITECTURES.has(deb.control.architecture)) {
    throw new DebPackageError(`${deb.file} is for ${deb.control.architecture}, the image is amd64`);
  }
}

/** The dependency closure of {@link BASE_PACKAGES} over `available`, sorted by name. */
function closure(available: ReadonlyMap<string, ResolvedPackage>, missing: (name: string, wantedBy: string) => Error): ResolvedPackage[] {
  const taken = new Map<string, ResolvedPackage>();
  const queue = BASE_PACKAGES.map((name) => ({ name, wantedBy: "the image" }));
  for (let next = queue.shift(); next; next = queue.shift()) {
    if (taken.has(next.name)) continue;
    const pkg = available.get(next.name);
    if (!pkg) throw missing(next.name, next.wantedBy);
    taken.set(next.name, pkg);
    for (const dep of pkg.deb.control.depends) queue.push({ name: dep, wantedBy: next.name });
  }
  return [...taken.values()].sort((a, b) => a.deb.control.package.localeCompare(b.deb.control.package));
}

/**
 * Takes the packages from a directory of .deb files (no apt, no network): exactly one .deb per
 * package of the closure; other .debs are ignored.
 */
export async function packagesFromDirectory(dir: string): Promise<PackageReport> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith(".deb")).sort();
  } catch (err) {
    throw new DebPackageError(`cannot read the package directory ${dir}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const available = new Map<string, ResolvedPackage>();
  for (const name of names) {
    const file = join(dir, name);
    const deb = await readDebPackage(file);
    const other = available.get(deb.control.package);
    if (other) throw new DebPackageError(`${dir} holds two .debs of ${deb.control.package}: ${other.deb.file} and ${file}`);
    available.set(deb.control.package, { deb, sha256: await sha256File(file) });
  }
  const packages = closure(available, (name, wantedBy) => new DebPackageError(`${dir} has no .deb of ${name} (needed by ${wantedBy})`));
  packages.forEach((p) => checkArchitecture(p.deb));
  return { packages, downloaded: [] };
}

/** One line of `apt-get download --print-uris`: `'<url>' <file> <size> SHA256:<hex>`. */
interface AptUri {
  readonly name: string;
  readonly version: string;
  readonly file: string;
  readonly sha256: string;
}

/** Parses `apt-get download --print-uris` output. */
export function parsePrintUris(text: string): AptUri[] {
  const uris: AptUri[] = [];
  for (const line of text.split("\n")) {
    const m = /^'[^']+' (\S+) \d+ SHA256:([0-9a-f]{64})$/.exec(line.trim());
    if (!m) continue;
    const file = m[1] ?? "";
    const [name = "", version = ""] = file.replace(/\.deb$/, "").split("_");
    uris.push({ name, version: decodeURIComponent(version), file, sha256: `sha256:${m[2] ?? ""}` });
  }
  return uris;
}

/** apt options: as root, download without apt's `_apt` sandbox user (the cache belongs to root). */
function aptOptions(): string[] {
  return process.getuid?.() === 0 ? ["-o", "APT::Sandbox::User=root"] : [];
}

/** Runs apt-get with one-line errors that hint at missing lists. */
async function aptGet(args: readonly string[], cwd: string): Promise<string> {
  try {
    return await runCommand("apt-get", [...aptOptions(), ...args], { cwd });
  } catch (err) {
    throw new DebPackageError(`${err instanceof Error ? err.message : String(err)} (are the apt lists there? run apt-get update)`);
  }
}

/**
 * Resolves the packages with apt (the candidate versions of the host's apt sources) and downloads
 * the .debs that are not in `cacheDir` already; cached files are checked against apt's SHA256.
 */
export async function packagesFromApt(cacheDir: string): Promise<PackageReport> {
  await mkdir(cacheDir, { recursive: true });
  // apt prints no URI for a .deb already in its working directory: ask from an empty one
  const emptyDir = await mkdtemp(join(tmpdir(), "lifecycle-image-apt-"));
  try {
    const resolved = new Map<string, ResolvedPackage>();
    const downloaded: string[] = [];
    for (let wanted = [...BASE_PACKAGES]; wanted.length > 0; ) {
      const uris = parsePrintUris(await aptGet(["download", "--print-uris", ...wanted], emptyDir));
      const unresolved = wanted.filter((name) => !uris.some((u) => u.name === name));
      if (unresolved.length > 0) throw new DebPackageError(`apt-get download --print-uris gave no .deb for ${unresolved.join(", ")}`);
      const cached = await Promise.all(uris.map(async (uri) => (await sha256File(join(cacheDir, uri.file)).catch(() => undefined)) === uri.sha256));
      const missing = uris.filter((_, i) => !cached[i]);
      if (missing.length > 0) await aptGet(["download", ...missing.map((u) => `${u.name}=${u.version}`)], cacheDir);
      for (const uri of uris) {
        const path = join(cacheDir, uri.file);
        const sha256 = await sha256File(path).catch(() => undefined);
        if (sha256 !== uri.sha256) throw new DebPackageError(`apt downloaded ${uri.file} with ${sha256 ?? "no file"}, its index says ${uri.sha256}`);
        const deb = await readDebPackage(path);
        checkArchitecture(deb);
        resolved.set(deb.control.package, { deb, sha256 });
      }
      downloaded.push(...missing.map((u) => u.file));
      wanted = [...new Set([...resolved.values()].flatMap((p) => p.deb.control.depends))].filter((n) => !resolved.has(n)).sort();
    }
    return { packages: closure(resolved, (name) => new DebPackageError(`apt did not resolve ${name}`)), downloaded };
  } finally {
    await rm(emptyDir, { recursive: true, force: true });
  }
}
